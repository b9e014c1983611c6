import pytest

from animatex.data.generate import generate
from animatex.pipelines.tiny import build_tiny_pipeline


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A saved tiny random AnimateXPipeline folder, as `--model` takes it."""
    folder = tmp_path_factory.mktemp("tiny_model")
    build_tiny_pipeline(seed=0).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def synth_cases(tmp_path_factory):
    """Two 9-frame A2Bench-Synth test clips at 128 px: a human (its pose is detectable) and an anthro cat."""
    root = tmp_path_factory.mktemp("cases")
    return {split: generate(root / split, split, 1, 0, "test", 128, 9)[0] for split in ("human", "anthro")}
