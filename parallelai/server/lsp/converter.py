"""The cattrs converter both ends use: custom methods' params and results stay plain JSON.

pygls' default turns the params of a method lsprotocol does not know into namedtuples, renaming
every key that is not a Python identifier (`engine_settings["claude-code"]` would arrive as
`_0`). Our params are validated by pydantic models instead, so they must arrive as they were sent.
"""

from __future__ import annotations

from typing import Any

import cattrs
from lsprotocol.converters import get_converter
from pygls.protocol import JsonRPCNotification, JsonRPCRequestMessage, JsonRPCResponseMessage


def json_converter() -> cattrs.Converter:
    """lsprotocol's converter, with the hooks pygls' `default_converter` adds replaced by pass-through ones."""
    converter = get_converter()
    for message in (JsonRPCRequestMessage, JsonRPCNotification, JsonRPCResponseMessage):
        converter.register_structure_hook(message, _as_sent)
    return converter


def _as_sent(fields: dict[str, Any], message: type[Any]) -> Any:
    return message(**fields)
