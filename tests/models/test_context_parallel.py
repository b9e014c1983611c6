"""Context parallelism (issue #21): the plan shards the IPI with the sequence; a 2-process run equals 1 process."""

from __future__ import annotations

import os

import pytest
import torch
import torch.multiprocessing as mp
from diffusers import WanTransformer3DModel
from diffusers.models._modeling_parallel import ContextParallelInput

from animatex.models.presets import build_transformer

WORLD_SIZE = 2


def _model():
    torch.manual_seed(0)
    return build_transformer("tiny", num_layers=4, pose_indicator_blocks=(1, 2)).eval()


def test_plan_is_wans_plus_the_ipi_of_each_ipi_block():
    model = _model()
    plan = model._cp_plan
    for key, value in WanTransformer3DModel._cp_plan.items():
        if isinstance(value, dict):
            assert value.items() <= plan[key].items()
        else:
            assert plan[key] == value
    ipi_blocks = sorted(k for k, v in plan.items() if isinstance(v, dict) and "pose_indicator_states" in v)
    assert ipi_blocks == ["blocks.1", "blocks.2"]
    assert plan["blocks.1"]["pose_indicator_states"] == ContextParallelInput(split_dim=1, expected_dims=3)
    assert "pose_indicator_states" not in WanTransformer3DModel._cp_plan["blocks.0"]  # Wan's plan left alone
    assert all(model.get_submodule(k) is not None for k in plan if k)


def _worker(rank: int, inputs, expected, port: int) -> None:
    from diffusers import ContextParallelConfig
    from test_transformer_animatex import _wake_pose_indicator

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    torch.distributed.init_process_group(backend, rank=rank, world_size=WORLD_SIZE)
    try:
        device = torch.device("cuda", rank) if backend == "nccl" else torch.device("cpu")
        model = _model()
        _wake_pose_indicator(model)
        model.to(device).enable_parallelism(config=ContextParallelConfig(ulysses_degree=WORLD_SIZE))
        with torch.no_grad():
            out = model(**{k: v.to(device) for k, v in inputs.items()}, return_dict=False)[0]
        torch.testing.assert_close(out.cpu(), expected, atol=1e-4, rtol=1e-4)
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.skipif(
    torch.accelerator.device_count() < WORLD_SIZE,
    reason="diffusers' enable_parallelism picks each rank's device as rank % torch.accelerator.device_count(), "
    "so context parallelism needs one accelerator per rank; with none it cannot start on gloo/CPU",
)
def test_two_ranks_ulysses_equal_one_process():
    from test_transformer_animatex import _inputs, _wake_pose_indicator

    model = _model()
    _wake_pose_indicator(model)
    base, pose = _inputs(frames=3, height=4, width=8)
    inputs = {**base, **pose}
    with torch.no_grad():
        expected = model(**inputs, return_dict=False)[0]
    mp.spawn(_worker, args=(inputs, expected, 29517), nprocs=WORLD_SIZE, join=True)
