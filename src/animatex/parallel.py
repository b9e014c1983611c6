"""Multi-GPU inference: one video's tokens sharded over the processes `torchrun` (or `accelerate launch`) starts.

Each process loads the whole pipeline on its own GPU and runs the same call with the same seed; diffusers'
context parallelism (`ContextParallelConfig`, Ulysses or ring attention) splits the transformer's sequence, the
pose tokens and the IPI additions along it (`AnimateXTransformer3DModel._cp_plan`) and gathers the output, so
every rank ends with the same latents and rank 0 writes the files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from animatex.errors import AnimatexError

CONTEXT_PARALLEL_KINDS = ("ulysses", "ring")
LAUNCH_HINT = "torchrun --nproc-per-node N -m animatex animate ... --device cuda --context-parallel ulysses"


@dataclass(frozen=True)
class Processes:
    """Where this process sits among the ones the launcher started."""

    rank: int
    local_rank: int
    world_size: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_processes(environ: dict[str, str] | None = None) -> Processes:
    """The launcher's RANK / LOCAL_RANK / WORLD_SIZE (one process when none are set)."""
    environ = os.environ if environ is None else environ
    try:
        return Processes(
            rank=int(environ.get("RANK", 0)),
            local_rank=int(environ.get("LOCAL_RANK", environ.get("RANK", 0))),
            world_size=int(environ.get("WORLD_SIZE", 1)),
        )
    except ValueError as error:
        raise AnimatexError(f"RANK, LOCAL_RANK and WORLD_SIZE must be whole numbers ({error})") from None


def check_context_parallel(kind: str | None, device: str, environ: dict[str, str] | None = None) -> Processes:
    """Refuse a context-parallel request this launch cannot run, before any model loads."""
    processes = launched_processes(environ)
    if kind is None:
        if processes.world_size > 1:
            raise AnimatexError(
                f"started as {processes.world_size} processes but without --context-parallel: every process "
                "would make the same video; pass --context-parallel ulysses (or ring), or run one process"
            )
        return processes
    if kind not in CONTEXT_PARALLEL_KINDS:
        raise AnimatexError(f"--context-parallel takes {' or '.join(CONTEXT_PARALLEL_KINDS)}, not {kind!r}")
    if processes.world_size < 2:
        raise AnimatexError(f"--context-parallel shards one video over several GPUs: launch it as {LAUNCH_HINT}")
    if not device.startswith("cuda"):
        raise AnimatexError(
            f"--context-parallel needs one GPU per process (--device cuda); diffusers cannot shard on {device}"
        )
    import torch

    if torch.cuda.device_count() < processes.world_size:
        raise AnimatexError(
            f"{processes.world_size} processes but {torch.cuda.device_count()} visible GPUs: context parallelism "
            "needs one GPU per process (diffusers places rank r on GPU r)"
        )
    return processes


def check_parallel_options(kind: str | None, compile: bool, memory: str | None) -> None:
    """Refuse what diffusers' context parallelism does not combine with: compiled blocks (its hooks split and
    gather around every block) and offloading (each rank must hold the whole transformer on its GPU)."""
    if kind is None:
        return
    if compile:
        raise AnimatexError("--compile does not combine with --context-parallel; drop one of them")
    from animatex.pipelines.memory import OFFLOADS, parse_memory_mode

    offloads = [part for part in parse_memory_mode(memory) if part in OFFLOADS]
    if offloads:
        raise AnimatexError(
            f"--memory {offloads[0]} does not combine with --context-parallel: each GPU holds the whole model "
            "and computes part of the video (fp8 and vae-tiling do combine)"
        )


def start_context_parallel(pipe, kind: str, processes: Processes) -> None:
    """Join the launcher's process group and shard `pipe.transformer`'s sequence over it, in diffusers' any-length
    modes (Ulysses with any head count, ring with any sequence length)."""
    import torch
    from diffusers import ContextParallelConfig

    torch.cuda.set_device(processes.local_rank)
    if not torch.distributed.is_initialized():
        # The any-length modes agree on each rank's size with a small CPU collective; attention itself runs on NCCL.
        torch.distributed.init_process_group("cpu:gloo,cuda:nccl")
    if kind == "ulysses":
        config = ContextParallelConfig(ulysses_degree=processes.world_size, ulysses_anything=True)
    else:
        config = ContextParallelConfig(ring_degree=processes.world_size, ring_anything=True)
    pipe.transformer.enable_parallelism(config=config)
