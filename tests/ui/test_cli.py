"""`animatex ui` refuses bad options in one line, before loading anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from animatex.cli import main


def run(argv: list[str]) -> int:
    """main's exit status, whether it returns it or argparse exits with it."""
    try:
        return main(argv)
    except SystemExit as stop:
        return int(stop.code)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--port", "0"], "animatex ui: error: --port must be between 1 and 65535, got 0"),
        (
            ["--max-upload-mb", "-1"],
            "animatex ui: error: argument --max-upload-mb: must be a positive number",
        ),
    ],
)
def test_bad_options_are_one_line(options: list[str], message: str, capsys: pytest.CaptureFixture) -> None:
    assert run(["ui", *options]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(message) and "\n" not in err


def test_out_must_be_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    afile = tmp_path / "file"
    afile.write_text("x")
    assert run(["ui", "--out", str(afile)]) == 2
    assert "exists and is not a folder" in capsys.readouterr().err
