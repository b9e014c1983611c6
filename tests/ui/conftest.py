"""One `animatex ui` server (demo model) per module, and a small synthetic case to upload to it."""

from __future__ import annotations

from pathlib import Path

import pytest

from animatex.data.generate import generate

CASE_FRAMES = 9  # 4k+1: the whole clip is animated


@pytest.fixture(scope="session")
def case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An A2Bench-Synth clip folder (64x64, 9 frames) that is none of the app's bundled examples."""
    root = tmp_path_factory.mktemp("case")
    (folder,) = generate(root, "anthro", 1, 5, "test", 64, CASE_FRAMES)
    return folder


@pytest.fixture(scope="session")
def case_frames() -> int:
    return CASE_FRAMES


@pytest.fixture(scope="session")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    pytest.importorskip("gradio", reason="the web app needs gradio (make install installs the ui extra)")
    from animatex.ui.serve import running_app

    out = tmp_path_factory.mktemp("ui-out")
    # A memory mode that changes nothing at 64 px, so that the client tests can see it reach the run.
    with running_app(out, "--memory", "vae-tiling") as url:
        yield url
