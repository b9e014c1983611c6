"""`animatex ui` refuses bad options in one line, before loading anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from animatex.cli import main


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--port", "0"], "--port must be between 1 and 65535, got 0"),
        (["--max-upload-mb", "-1"], "--max-upload-mb must be positive, got -1.0"),
    ],
)
def test_bad_options_are_one_line(options: list[str], message: str, capsys: pytest.CaptureFixture) -> None:
    assert main(["ui", *options]) == 2
    assert capsys.readouterr().err.strip() == f"animatex ui: error: {message}"


def test_out_must_be_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    afile = tmp_path / "file"
    afile.write_text("x")
    assert main(["ui", "--out", str(afile)]) == 2
    assert "exists and is not a folder" in capsys.readouterr().err
