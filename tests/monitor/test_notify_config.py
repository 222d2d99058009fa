"""The `[notify]` table: found in the user's and the project's config file, validated, explained."""

from __future__ import annotations

from pathlib import Path

import pytest

from parallelai.errors import InputError
from parallelai.monitor.notify_config import load_notify_config


def test_without_a_config_file_notifications_are_off(tmp_path: Path) -> None:
    assert not load_notify_config(tmp_path).enabled


def test_the_users_file_is_read_and_a_projects_table_replaces_it(
    tmp_path: Path, isolated_state: Path
) -> None:
    isolated_state.mkdir(parents=True)
    (isolated_state / "config.toml").write_text('[notify]\nslack_webhook = "https://hooks.example/user"\n')
    assert str(load_notify_config(tmp_path).slack_webhook) == "https://hooks.example/user"

    project = tmp_path / ".parallelai"
    project.mkdir()
    (project / "config.toml").write_text(
        '[run]\nengine = "echo"\n\n[notify]\nwebhook = "https://example.com/hook"\non = ["failed"]\n'
    )
    config = load_notify_config(tmp_path)
    assert config.slack_webhook is None
    assert str(config.webhook) == "https://example.com/hook"
    assert config.on == {"failed"}


def test_a_wrong_field_names_the_file_and_the_field(tmp_path: Path) -> None:
    (tmp_path / ".parallelai").mkdir()
    path = tmp_path / ".parallelai" / "config.toml"
    path.write_text('[notify]\nslack_webhok = "https://hooks.example/x"\n')
    with pytest.raises(InputError, match=r"config\.toml: notify\.slack_webhok: Extra inputs"):
        load_notify_config(tmp_path)


def test_a_file_that_is_not_toml_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / ".parallelai").mkdir()
    (tmp_path / ".parallelai" / "config.toml").write_text("[notify\n")
    with pytest.raises(InputError, match="cannot read it as TOML"):
        load_notify_config(tmp_path)
