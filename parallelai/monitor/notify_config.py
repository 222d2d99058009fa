"""The `[notify]` table of the config file: where run notifications go and which ones to send.

It is read from the user's config file (`$PARALLELAI_CONFIG`, else `$PARALLELAI_STATE_DIR/config.toml`) and `.parallelai/config.toml`
(per project, in the daemon's working directory); a project's table replaces the user's.

    [notify]
    slack_webhook = "https://hooks.slack.com/services/T000/B000/XXXX"
    webhook = "https://example.com/parallelai"     # any endpoint that takes a JSON POST
    webhook_headers = { Authorization = "Bearer s3cret" }
    on = ["succeeded", "failed", "cancelled", "interrupted", "budget"]
    dashboard_url = "http://127.0.0.1:8787"         # default: the daemon's own URL
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError

from parallelai.errors import InputError
from parallelai.paths import user_config_path

CONFIG_NAME = "config.toml"
PROJECT_CONFIG = Path(".parallelai") / CONFIG_NAME
# `interrupted`: the run's process stopped before it finished (it can be resumed); opt-in, since a
# daemon that stops leaves its own runs interrupted and resumes them when it starts again.
Trigger = Literal["succeeded", "failed", "cancelled", "interrupted", "budget"]


class NotifyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    slack_webhook: HttpUrl | None = None
    webhook: HttpUrl | None = None
    webhook_headers: dict[str, str] = Field(default_factory=dict)
    on: frozenset[Trigger] = frozenset({"succeeded", "failed", "budget"})
    dashboard_url: HttpUrl | None = None
    retries: Annotated[int, Field(ge=0, le=10)] = 4
    backoff_s: Annotated[float, Field(gt=0)] = 1.0  # doubled after each failed attempt
    timeout_s: Annotated[float, Field(gt=0)] = 10.0

    @property
    def enabled(self) -> bool:
        return self.slack_webhook is not None or self.webhook is not None


class _ConfigFile(BaseModel):
    # Other tables ([run], [report]) belong to other parts of parallelai.
    model_config = ConfigDict(extra="ignore")

    notify: NotifyConfig | None = None


def config_paths(project_dir: Path | None = None) -> list[Path]:
    """The files consulted, weakest first."""
    return [user_config_path(), (project_dir or Path.cwd()) / PROJECT_CONFIG]


def load_notify_config(project_dir: Path | None = None) -> NotifyConfig:
    """The `[notify]` table that applies; an empty (disabled) one when no file has it.

    Raises InputError naming the file and field when a file is not valid TOML or the table is wrong.
    """
    chosen = NotifyConfig()
    for path in config_paths(project_dir):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
            raise InputError(f"{path}: cannot read it as TOML: {error}") from None
        try:
            parsed = _ConfigFile.model_validate(data)
        except ValidationError as error:
            problem = error.errors()[0]
            where = ".".join(str(part) for part in problem["loc"])
            raise InputError(f"{path}: {where}: {problem['msg']}") from None
        if parsed.notify is not None:
            chosen = parsed.notify
    return chosen
