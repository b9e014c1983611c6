from pathlib import Path

import pytest
import torch

from animatex.data.generate import generate
from animatex.training.config import Config, load_config

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "configs" / "tiny.yaml"


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four anthropomorphic clips, 9 frames of 32x32: enough for mixing, EPI pools and two processes."""
    root = tmp_path_factory.mktemp("synth")
    generate(root, "anthro", 4, 0, size=32, num_frames=9, overwrite=True)
    return root


@pytest.fixture(scope="session")
def one_clip_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("one-clip")
    generate(root, "anthro", 1, 0, size=32, num_frames=5, overwrite=True)
    return root


@pytest.fixture(scope="session")
def tiny_config():
    """configs/tiny.yaml on a dataset root, with dotted-key overrides."""

    def make(root: Path, **overrides) -> Config:
        return load_config(
            TINY, {"data.root": str(root), "checkpoint.every": 1000, "log.every": 1, **overrides}
        )

    return make


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run on one intra-op thread: on a shared 2-core machine a second thread that spins waiting
    for a busy core made these steps ~10x slower (measured: 4 tiny steps 20 s with 2 threads, 1.5 s with 1)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
