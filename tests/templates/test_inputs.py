"""Input matrices from Markdown, CSV, JSON and YAML; a missing column names its row and column."""

from __future__ import annotations

from pathlib import Path

import pytest

from parallelai.errors import MatrixError
from parallelai.templates.inputs import read_rows

EXPECTED = [{"name": "api", "size": "3"}, {"name": "a|b", "size": "1"}]


@pytest.mark.parametrize(
    ("suffix", "text"),
    [
        (".md", "Intro\n\n| name | size |\n|:-----|-----:|\n| api | 3 |\n| a\\|b | 1 |\n\nafter\n"),
        (".csv", 'name,size\napi,3\n"a|b",1\n'),
        (".json", '[{"name": "api", "size": "3"}, {"name": "a|b", "size": "1"}]'),
        (".yaml", "- {name: api, size: '3'}\n- {name: 'a|b', size: '1'}\n"),
    ],
)
def test_rows_read_the_same_from_every_format(tmp_path: Path, suffix: str, text: str) -> None:
    path = tmp_path / f"matrix{suffix}"
    path.write_text(text)
    assert read_rows(path) == EXPECTED


@pytest.mark.parametrize(
    ("suffix", "text", "where"),
    [
        (".md", "| name | size |\n|---|---|\n| api | 3 |\n| web |  |\n", ":4:"),
        (".csv", "name,size\napi,3\nweb,\n", ":3:"),
        (".json", '[{"name": "api", "size": 3}, {"name": "web"}]', ": "),
        (".yaml", "- {name: api, size: 3}\n- {name: web}\n", ":2:"),
    ],
)
def test_a_missing_column_names_the_row_and_the_column(
    tmp_path: Path, suffix: str, text: str, where: str
) -> None:
    path = tmp_path / f"matrix{suffix}"
    path.write_text(text)
    with pytest.raises(MatrixError, match=r"row 2: missing column 'size'") as caught:
        read_rows(path)
    assert where in str(caught.value)


def test_a_column_the_template_requires_must_be_in_every_row(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("name\napi\n")
    with pytest.raises(MatrixError, match="row 1: missing column 'region'"):
        read_rows(path, required=["region"])


def test_a_file_without_a_table_or_of_an_unknown_format_is_refused(tmp_path: Path) -> None:
    (tmp_path / "m.md").write_text("no table here\n")
    (tmp_path / "m.txt").write_text("a,b\n")
    with pytest.raises(MatrixError, match="no Markdown table"):
        read_rows(tmp_path / "m.md")
    with pytest.raises(MatrixError, match=r"unknown input format '\.txt'"):
        read_rows(tmp_path / "m.txt")
