"""Reading YAML for people: positions kept for error messages, aliases and duplicate keys refused."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from parallelai.errors import TasksFileError

Location = tuple[str | int, ...]


class YamlDocument:
    """A parsed YAML document plus the line of every value in it, by path."""

    def __init__(self, path: Path, data: Any, lines: dict[Location, int]) -> None:
        self.path = path
        self.data = data
        self._lines = lines

    def line_of(self, location: Sequence[str | int]) -> int | None:
        """The line of the deepest value on `location` that the document has."""
        where = tuple(location)
        while where:
            if where in self._lines:
                return self._lines[where]
            where = where[:-1]
        return self._lines.get(())

    def error(self, message: str, location: Sequence[str | int] = ()) -> TasksFileError:
        return TasksFileError(self.path, message, self.line_of(location))

    def validation_error(
        self, error: ValidationError, prefix: Location = (), skip: int = 0
    ) -> TasksFileError:
        """The first problem pydantic found, as `file:line: field: message`."""
        problem = error.errors()[0]
        location = tuple(problem["loc"])[skip:]
        field = ".".join(str(part) for part in location)
        message = problem["msg"]
        if problem["type"] == "extra_forbidden":
            message = "unknown field (check its spelling)"
        return self.error(f"{field}: {message}" if field else message, prefix + location)


# The limits a tasks file is held to (docs/security.md): far above any real one, far below what
# would exhaust the parser's recursion or the store.
MAX_DEPTH = 64
MAX_FILE_CHARS = 16 * 1024 * 1024


def _too_deep(path: Path) -> TasksFileError:
    return TasksFileError(path, f"nested more than {MAX_DEPTH} levels deep; a tasks file needs a few")


def _depth(node: yaml.Node | None) -> int:
    """How deeply mappings and sequences nest in `node` (without recursing: a hostile file is deep)."""
    deepest, stack = 0, [(node, 1)]
    while stack:
        current, level = stack.pop()
        if isinstance(current, yaml.MappingNode):
            deepest = max(deepest, level)
            stack.extend((part, level + 1) for pair in current.value for part in pair)
        elif isinstance(current, yaml.SequenceNode):
            deepest = max(deepest, level)
            stack.extend((item, level + 1) for item in current.value)
    return deepest


def read_yaml(path: Path) -> YamlDocument:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TasksFileError(path, "file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise TasksFileError(path, f"cannot read: {error}") from None
    if len(text) > MAX_FILE_CHARS:
        raise TasksFileError(
            path, f"{len(text):,} characters, more than the {MAX_FILE_CHARS:,} a tasks file may have"
        )
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:  # the parser itself recurses: nesting that deep is no tasks file
        raise TasksFileError(
            path, f"nested more than {MAX_DEPTH} levels deep; a tasks file needs a few"
        ) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        raise TasksFileError(
            path,
            f"not valid YAML: {error.problem}",
            mark.line + 1 if mark else None,
            mark.column + 1 if mark else None,
        ) from None
    if node is None:
        raise TasksFileError(path, "the file is empty")
    if _depth(node) > MAX_DEPTH:
        raise _too_deep(path)
    lines: dict[Location, int] = {}
    data = _convert(path, node, (), lines, set())
    return YamlDocument(path, data, lines)


def _convert(path: Path, node: yaml.Node, where: Location, lines: dict[Location, int], seen: set[int]) -> Any:
    line = node.start_mark.line + 1
    lines[where] = line
    if id(node) in seen:  # the composer hands back the anchored node again for each alias
        raise TasksFileError(path, "YAML anchors and aliases are not allowed (they hide repetition)", line)
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise TasksFileError(
                    path, "YAML merge keys (<<) are not allowed", key_node.start_mark.line + 1
                )
            key = _scalar(key_node)
            if key in result:
                raise TasksFileError(path, f"duplicate key {key!r}", key_node.start_mark.line + 1)
            result[str(key)] = _convert(path, value_node, (*where, str(key)), lines, seen)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(path, item, (*where, index), lines, seen) for index, item in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()
