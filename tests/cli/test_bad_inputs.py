"""Every row of the bad-input table in docs/cli.md: its exit status, its one-line message, no file changed."""

import importlib.util
import sys
from pathlib import Path

import pytest

from animatex.cli import COMMANDS

_SCRIPT = Path(__file__).parents[2] / "docs" / "scripts" / "bad_inputs.py"
_spec = importlib.util.spec_from_file_location("bad_inputs", _SCRIPT)
bad_inputs = importlib.util.module_from_spec(_spec)
sys.modules["bad_inputs"] = bad_inputs  # dataclasses look their module up there
_spec.loader.exec_module(bad_inputs)

ROWS = bad_inputs.read_rows(bad_inputs.CLI_DOC.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad_inputs")
    bad_inputs.build_inputs(folder)
    return folder


def test_the_table_covers_every_command():
    assert len(ROWS) >= 40
    for command in COMMANDS:
        assert any(row.command.startswith(f"animatex {command}") for row in ROWS), command


@pytest.mark.parametrize("row", ROWS, ids=[f"{n:02d}" for n in range(len(ROWS))])
def test_bad_input_gives_one_line_and_changes_nothing(row, inputs):
    before = bad_inputs.snapshot(inputs)
    code, err = bad_inputs.run_row(row, inputs)
    assert (code, bad_inputs.last_line(err)) == (int(row.exit), row.message)
    assert code != 0 and "Traceback" not in err
    if row.condition != bad_inputs.DISK_FULL:  # those runs load a model and show its progress bars first
        assert len(err.strip().splitlines()) == 1, err
    assert bad_inputs.snapshot(inputs) == before  # no new, changed or deleted file or folder
