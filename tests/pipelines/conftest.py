import numpy as np
import pytest
import torch

from animatex.pipelines.tiny import build_tiny_pipeline


@pytest.fixture(scope="module")
def pipe():
    pipe = build_tiny_pipeline(seed=0)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _make_inputs(num_frames: int = 9, height: int = 32, width: int = 32, seed: int = 0) -> dict:
    """Random uint8 reference / pose / driving frames and keypoints for `num_frames` frames."""
    rng = np.random.default_rng(seed)
    return {
        "image": rng.integers(0, 256, (height, width, 3), dtype=np.uint8),
        "pose_video": rng.integers(0, 256, (num_frames, height, width, 3), dtype=np.uint8),
        "driving_video": rng.integers(0, 256, (num_frames, height, width, 3), dtype=np.uint8),
        "pose_keypoints": rng.uniform(0, 1, (num_frames, 18, 2)).astype(np.float32),
        "ref_pose": rng.integers(0, 256, (height, width, 3), dtype=np.uint8),
        "prompt": "a cartoon cat dances in the rain",
    }


def _run(pipe, seed: int = 0, **kwargs):
    kwargs.setdefault("num_inference_steps", 2)
    return pipe(generator=torch.Generator().manual_seed(seed), **kwargs).frames


@pytest.fixture
def make_inputs():
    return _make_inputs


@pytest.fixture
def run():
    return _run
