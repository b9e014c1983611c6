"""Multi-GPU launch checks: a context-parallel request this launch cannot run is refused before any model loads."""

import subprocess
import sys

import pytest

from animatex.errors import AnimatexError
from animatex.parallel import Processes, check_context_parallel, check_parallel_options, launched_processes

TWO = {"RANK": "1", "LOCAL_RANK": "1", "WORLD_SIZE": "2"}


def test_reads_the_launchers_ranks():
    assert launched_processes({}) == Processes(rank=0, local_rank=0, world_size=1)
    processes = launched_processes(TWO)
    assert processes == Processes(rank=1, local_rank=1, world_size=2) and not processes.is_main
    with pytest.raises(AnimatexError, match="whole numbers"):
        launched_processes({"WORLD_SIZE": "two"})


def test_one_process_without_the_flag_is_plain():
    assert check_context_parallel(None, "cpu", {}).is_main


@pytest.mark.parametrize(
    ("kind", "device", "environ", "message"),
    [
        ("ulysses", "cuda", {}, "launch it as torchrun --nproc-per-node N -m animatex"),
        ("ring", "cpu", TWO, "needs one GPU per process"),
        ("ulysses", "cuda", TWO, "visible GPUs"),  # this machine has fewer than two
        (None, "cuda", TWO, "every process would make the same video"),
        ("tensor", "cuda", TWO, "ulysses or ring"),
    ],
)
def test_refuses_what_the_launch_cannot_run(kind, device, environ, message):
    import torch

    if message == "visible GPUs" and torch.cuda.device_count() >= 2:
        pytest.skip("this machine has the GPUs")
    with pytest.raises(AnimatexError, match=message):
        check_context_parallel(kind, device, environ)


def test_python_dash_m_animatex_is_the_cli():
    done = subprocess.run([sys.executable, "-m", "animatex", "animate", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "--context-parallel" in done.stdout


def test_refuses_options_context_parallelism_does_not_combine_with():
    check_parallel_options(None, compile=True, memory="group-offload")  # no context parallelism: nothing to check
    check_parallel_options("ulysses", compile=False, memory="fp8+vae-tiling")
    with pytest.raises(AnimatexError, match="--compile does not combine"):
        check_parallel_options("ulysses", compile=True, memory=None)
    with pytest.raises(AnimatexError, match="--memory group-offload does not combine"):
        check_parallel_options("ring", compile=False, memory="fp8+group-offload")
