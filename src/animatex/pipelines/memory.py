"""Memory modes for `AnimateXPipeline`, each one of diffusers' own offloading, casting or VAE switches.

A mode string joins modes with "+", e.g. "fp8+group-offload+vae-tiling":

- "none": every model on the device.
- "model-offload": one whole model at a time on the accelerator (`enable_model_cpu_offload`).
- "sequential-offload": one layer at a time (`enable_sequential_cpu_offload`; slowest, least memory).
- "group-offload": the transformer's blocks on the device one at a time, the other models whole
  (`enable_group_offload`, block level, prefetched on a CUDA stream when on a GPU).
- "fp8": the transformer's weights stored in float8 (e4m3) and computed in the dtype it was loaded in (bf16
  for a converted Wan, fp32 on a CPU) (`enable_layerwise_casting`; pose modules, norms, embeddings uncast).
- "vae-tiling" / "vae-slicing": the VAE decodes in tiles / one video at a time.
- "text-encoder-cpu": the text encoder stays on the CPU (it runs once per call), the rest on the device.
"""

from __future__ import annotations

import torch

from animatex.errors import AnimatexError

MEMORY_MODES = (
    "none",
    "model-offload",
    "sequential-offload",
    "group-offload",
    "fp8",
    "vae-tiling",
    "vae-slicing",
    "text-encoder-cpu",
)
OFFLOADS = ("model-offload", "sequential-offload", "group-offload")
ACCELERATOR_ONLY = ("model-offload", "sequential-offload")


class MemoryModeError(AnimatexError):
    """A memory mode this machine or this combination cannot run."""


def parse_memory_mode(mode: str | None) -> list[str]:
    """ "fp8+group-offload" -> ["fp8", "group-offload"], checked; "none" or None -> []."""
    parts = [part.strip().lower() for part in (mode or "none").split("+") if part.strip()]
    unknown = [part for part in parts if part not in MEMORY_MODES]
    if unknown:
        raise MemoryModeError(
            f"unknown memory mode {unknown[0]!r}; choose from {', '.join(MEMORY_MODES)}, joined with '+'"
        )
    offloads = [part for part in parts if part in OFFLOADS]
    if len(offloads) > 1:
        raise MemoryModeError(f"choose one offload mode, not {' and '.join(offloads)}")
    if offloads and "text-encoder-cpu" in parts:
        raise MemoryModeError("text-encoder-cpu is for runs without offloading (offloading moves it anyway)")
    return [part for part in parts if part != "none"]


def check_memory_mode(mode: str | None, device: str | torch.device = "cpu") -> list[str]:
    """`parse_memory_mode`, and refuse the modes `device` cannot run (before any model is loaded)."""
    parts = parse_memory_mode(mode)
    device = torch.device(device)
    for part in ACCELERATOR_ONLY:
        if part in parts and device.type == "cpu":
            raise MemoryModeError(
                f"--memory {part} moves models between the CPU and an accelerator; on {device} everything is "
                "already in CPU memory, so run without it (or use group-offload)"
            )
    return parts


def release_weights_file(model: torch.nn.Module) -> None:
    """Give the tensors fp8 left uncast (norms, embeddings, pose modules) memory of their own. Loaded weights are
    views of the mapped weights file, which stays resident while any of them lives: on a CPU, where the model stays
    in that memory, fp8's 1-byte copies would otherwise come on top of the whole fp32 file."""
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            if tensor.dtype != torch.float8_e4m3fn:
                tensor.data = tensor.data.clone()


def apply_memory_mode(pipe, mode: str | None, device: str | torch.device = "cpu") -> list[str]:
    """Set `pipe` up for `mode` on `device` (instead of `pipe.to(device)`) and return the modes applied."""
    parts = check_memory_mode(mode, device)
    device = torch.device(device)
    if "fp8" in parts:
        # Compute in the dtype the model was loaded in (bf16 for a converted Wan, fp32 on a CPU).
        pipe.transformer.enable_layerwise_casting(
            storage_dtype=torch.float8_e4m3fn, compute_dtype=pipe.transformer.dtype
        )
        if device.type == "cpu":
            release_weights_file(pipe.transformer)
    if "vae-tiling" in parts:
        pipe.vae.enable_tiling()
    if "vae-slicing" in parts:
        pipe.vae.enable_slicing()

    if "model-offload" in parts:
        pipe.enable_model_cpu_offload(device=device)
    elif "sequential-offload" in parts:
        pipe.enable_sequential_cpu_offload(device=device)
    elif "group-offload" in parts:
        pipe.to("cpu")
        pipe.transformer.enable_group_offload(
            onload_device=device,
            offload_device=torch.device("cpu"),
            offload_type="block_level",
            num_blocks_per_group=1,
            use_stream=device.type == "cuda",
        )
        for name, component in pipe.components.items():
            if isinstance(component, torch.nn.Module) and name != "transformer":
                component.to(device)
    else:
        pipe.to(device)
        if "text-encoder-cpu" in parts and pipe.text_encoder is not None:
            pipe.text_encoder.to("cpu")
    return parts
