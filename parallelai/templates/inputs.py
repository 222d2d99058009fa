"""Input matrices: rows read from a Markdown table, CSV, JSON or YAML file, one task per row.

Every row must have every column — the header's (Markdown, CSV), the first row's keys (JSON,
YAML) and any the template requires — because a missing value would otherwise render as an
empty string in somebody's configuration. The error names the row and the column.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from parallelai.errors import MatrixError
from parallelai.yamlsource import read_yaml

Row = dict[str, Any]


def read_rows(path: Path, required: Sequence[str] = ()) -> list[Row]:
    if not path.is_file():
        raise MatrixError(path, "input file not found")
    suffix = path.suffix.lower()
    if suffix in (".md", ".markdown"):
        rows, lines = _markdown_rows(path)
    elif suffix == ".csv":
        rows, lines = _csv_rows(path)
    elif suffix == ".json":
        rows, lines = _json_rows(path), {}
    elif suffix in (".yaml", ".yml"):
        rows, lines = _yaml_rows(path)
    else:
        raise MatrixError(path, f"unknown input format {suffix or '(none)'!r}; use .md, .csv, .json or .yaml")
    if not rows:
        raise MatrixError(path, "the input has no rows")
    columns = list(dict.fromkeys([*rows[0], *required]))
    for number, row in enumerate(rows, 1):
        for column in columns:
            if column not in row or row[column] is None:
                raise MatrixError(path, f"row {number}: missing column {column!r}", lines.get(number))
    return rows


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise MatrixError(path, f"cannot read: {error}") from None


def _cells(line: str) -> list[str]:
    body = line.strip()
    body = body.removeprefix("|").removesuffix("|")
    # `\|` is a literal bar inside a cell, as in GitHub's tables.
    return [cell.strip().replace("\\|", "|") for cell in body.replace("\\|", "\0").split("|")]


def _markdown_rows(path: Path) -> tuple[list[Row], dict[int, int]]:
    """The first pipe table in the file; empty cells are missing values."""
    lines = _text(path).splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip().startswith("|")), None)
    if start is None or start + 1 >= len(lines) or not set(lines[start + 1].strip()) <= set("|:- "):
        raise MatrixError(path, "no Markdown table (a header row, then a |---| row) found")
    header = [cell.replace("\0", "|") for cell in _cells(lines[start])]
    if "" in header or len(set(header)) != len(header):
        raise MatrixError(path, "every column needs a unique, non-empty name", start + 1)
    rows: list[Row] = []
    where: dict[int, int] = {}
    for index in range(start + 2, len(lines)):
        if not lines[index].strip().startswith("|"):
            break
        cells = [cell.replace("\0", "|") for cell in _cells(lines[index])]
        if len(cells) > len(header):
            raise MatrixError(path, f"row {len(rows) + 1}: more cells than columns", index + 1)
        rows.append({name: value for name, value in zip(header, cells, strict=False) if value != ""})
        where[len(rows)] = index + 1
    return rows, where


def _csv_rows(path: Path) -> tuple[list[Row], dict[int, int]]:
    reader = csv.DictReader(io.StringIO(_text(path)))
    if not reader.fieldnames:
        raise MatrixError(path, "the CSV file has no header row")
    rows: list[Row] = []
    where: dict[int, int] = {}
    for row in reader:
        if None in row:
            raise MatrixError(path, f"row {len(rows) + 1}: more cells than columns", reader.line_num)
        rows.append({key: value for key, value in row.items() if value not in (None, "")})
        where[len(rows)] = reader.line_num
    return rows, where


def _json_rows(path: Path) -> list[Row]:
    try:
        data = json.loads(_text(path))
    except json.JSONDecodeError as error:
        raise MatrixError(path, f"not valid JSON: {error.msg}", error.lineno, error.colno) from None
    return _check_list(path, data)


def _yaml_rows(path: Path) -> tuple[list[Row], dict[int, int]]:
    document = read_yaml(path)
    rows = _check_list(path, document.data)
    return rows, {number: document.line_of((number - 1,)) or 0 for number in range(1, len(rows) + 1)}


def _check_list(path: Path, data: Any) -> list[Row]:
    if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
        raise MatrixError(path, "the input must be a list of objects, one per row")
    return [{str(key): value for key, value in row.items()} for row in data]
