"""The front door stays true: every command in README.md parses, its links resolve, and its Python API runs."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from animatex.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def _commands() -> list[str]:
    """The shell lines of the README's bash blocks, continuation lines joined, comments dropped."""
    lines = []
    for block in _blocks("bash"):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("  #")[0].strip()
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


# `animatex ...`, and the animatex part of a launcher's line (`torchrun ... -m animatex animate ...`).
ANIMATEX_COMMANDS = [
    line if line.startswith("animatex ") else "animatex " + line.split(" -m animatex ", 1)[1]
    for line in _commands()
    if line.startswith("animatex ") or " -m animatex " in line
]


def test_the_readme_shows_commands():
    assert {"make demo", "make test", "make install"} <= {line.split("  ")[0].strip() for line in _commands()}
    assert len(ANIMATEX_COMMANDS) >= 8


@pytest.mark.parametrize("line", ANIMATEX_COMMANDS)
def test_every_animatex_command_in_the_readme_parses(line):
    args = build_parser().parse_args(shlex.split(line)[1:])
    assert callable(args.func)


def test_every_make_target_in_the_readme_exists():
    makefile = (ROOT / "Makefile").read_text()
    for line in _commands():
        if line.startswith("make "):
            target = line.split()[1]
            assert re.search(rf"^{re.escape(target)}:", makefile, flags=re.M), target


@pytest.mark.parametrize("page", ["README.md", "docs/README.md"])
def test_links_resolve(page):
    text = (ROOT / page).read_text()
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if target.startswith(("http://", "https://")):
            continue
        assert (ROOT / page).parent.joinpath(target).exists(), f"{page} links to a missing {target}"


def test_the_python_api_example_runs(tmp_path, monkeypatch):
    # The example's inputs: a held-out cartoon character and a synthetic person's dance, whose body the
    # mediapipe detector finds (A2Bench-Synth, 128 px, 9 frames).
    from animatex.data.dataset import load_clip
    from animatex.data.generate import generate
    from animatex.io import read_video, write_image, write_video

    (anthro,) = generate(tmp_path / "a", "anthro", 1, 0, "test", 128, 9, overwrite=True)
    (human,) = generate(tmp_path / "h", "human", 1, 0, "test", 128, 9, overwrite=True)
    monkeypatch.chdir(tmp_path)
    write_image("cat.png", load_clip(anthro).reference)
    write_video("dance.mp4", load_clip(human).driving, 16)
    (tmp_path / "weights").symlink_to(ROOT / "weights")
    (code,) = _blocks("python")
    exec(compile(code, "README.md", "exec"), {})
    frames, _ = read_video("cat.mp4")
    assert frames.shape == (9, 64, 64, 3)  # the demo model's own size, in the reference's aspect
