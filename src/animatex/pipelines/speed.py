"""Speed options for `AnimateXPipeline`: step caches, the attention backend and regional compilation.

Step caches are diffusers' cache hooks through the transformer's `enable_cache`. A cache is named by a spec, `name`
or `name:value`: "fbc[:threshold]" (FirstBlockCache), "taylorseer[:interval]" (TaylorSeer on every block's
attention and FFN outputs), "magcache[:threshold]" (MagCache, with the ratios that `calibrate_mag_cache` stored in
the model folder), "pab[:range]" (Pyramid Attention Broadcast: each block's self-attention output is recomputed
every `range` steps, its cross-attention every 2 x `range`), "fastercache[:range]" (FasterCache's attention reuse,
self-attention every `range` steps) or "none". The IPI reaches the blocks as a block argument that a hook added at
build time applies (`PoseIndicatorHook`), so a skipped block skips its IPI addition too.

PAB and FasterCache keep one state per attention module for every transformer call (they ignore
`cache_context`), so they are right only when each step calls the transformer once: no guidance, or guidance
batched into one forward, and no context windows. `check_one_call_per_step` refuses the other calls.
FasterCache's other half, computing the unconditional branch from the conditional one in frequency space, is not
used: it expects a batch of [uncond, cond] halves and splits only the inputs it knows by name, while the pipeline
stacks cond first, may add a third (text-guidance) branch and passes the pose features as one more input; so it
runs as for a guidance-distilled model (`is_guidance_distilled=True`).

The attention backend is diffusers' (`set_attention_backend`, `diffusers.models.attention_dispatch`), checked
against this machine before any model loads; `compile_transformer` is diffusers' `compile_repeated_blocks`
(torch.compile of each transformer block).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from diffusers.hooks import (
    FasterCacheConfig,
    FirstBlockCacheConfig,
    HookRegistry,
    MagCacheConfig,
    PyramidAttentionBroadcastConfig,
    TaylorSeerCacheConfig,
)

from animatex.errors import AnimatexError

CACHES = ("none", "fbc", "taylorseer", "magcache", "pab", "fastercache")
# Chosen from benchmarks/bench_cache.py (docs/benchmarks.md): fbc:0.2 is >= 1.9x on the transformer at 20 and 50
# steps with >= 49 dB PSNR against the uncached output on the demo model.
DEFAULT_OPTION = {"fbc": 0.2, "taylorseer": 4, "magcache": 0.24, "pab": 2, "fastercache": 2}
MAG_CACHE_FILE = "mag_cache.json"
# diffusers' TaylorSeer default patterns (`^blocks.*attn`) must match a whole module name, and Wan's attention
# modules are `attn1` and `attn2`, so they match nothing and the cache never engages. Name Wan's modules.
WAN_TAYLORSEER_MODULES = [r"blocks\.\d+\.(attn1|attn2|ffn)"]
# PAB and FasterCache search module names with these; exact names keep them off any other attention module.
WAN_SELF_ATTENTION = (r"^blocks\.\d+\.attn1$",)
WAN_CROSS_ATTENTION = (r"^blocks\.\d+\.attn2$",)
ONE_CALL_PER_STEP = {PyramidAttentionBroadcastConfig: "pab", FasterCacheConfig: "fastercache"}


class CacheSpecError(AnimatexError):
    """A cache spec that names no cache, or a MagCache without calibrated ratios."""


def parse_cache_spec(spec: str) -> tuple[str, float | None]:
    """ "fbc:0.1" -> ("fbc", 0.1); "none" -> ("none", None)."""
    name, _, value = spec.partition(":")
    name = name.strip().lower()
    if name not in CACHES:
        raise CacheSpecError(
            f"unknown cache {spec!r}; choose one of {', '.join(CACHES)} (optionally name:value)"
        )
    if not value:
        return name, None
    try:
        return name, float(value)
    except ValueError:
        raise CacheSpecError(f"the cache option in {spec!r} must be a number, e.g. fbc:0.1") from None


def check_cache(spec: str | None, model_dir: str | Path | None) -> None:
    """Refuse a bad spec, or MagCache without stored ratios, before anything slow runs."""
    if spec and parse_cache_spec(spec)[0] == "magcache":
        load_mag_ratios(model_dir)


def mag_cache_path(model_dir: str | Path) -> Path:
    return Path(model_dir) / MAG_CACHE_FILE


def load_mag_ratios(model_dir: str | Path | None) -> list[float]:
    """The MagCache ratios `calibrate_mag_cache` stored in `model_dir`."""
    path = mag_cache_path(model_dir) if model_dir else None
    if path is None or not path.is_file():
        raise CacheSpecError(
            f"magcache needs ratios calibrated for this model; run `animatex cache calibrate --model {model_dir}` "
            "first"
        )
    return [float(r) for r in json.loads(path.read_text())["ratios"]]


def cache_config(
    spec: str,
    num_inference_steps: int,
    model_dir: str | Path | None = None,
    dtype: torch.dtype = torch.float32,
    current_timestep: Callable[[], Any] | None = None,
) -> Any | None:
    """The diffusers cache config a spec names (None for "none"). PAB and FasterCache read the step's timestep
    from `current_timestep` (the pipeline's `current_timestep`)."""
    name, value = parse_cache_spec(spec)
    option = DEFAULT_OPTION.get(name) if value is None else value
    if name in ("pab", "fastercache"):
        if option < 1 or option != int(option):
            raise CacheSpecError(f"{name}:N needs a whole range N >= 1, got {option}")
        if current_timestep is None:
            raise ValueError(f"{name} needs `current_timestep`, a callable returning the step's timestep")
    if name == "pab":
        return PyramidAttentionBroadcastConfig(
            spatial_attention_block_skip_range=int(option),
            cross_attention_block_skip_range=2 * int(option),  # PAB's finding: cross-attention varies least
            spatial_attention_block_identifiers=WAN_SELF_ATTENTION,
            cross_attention_block_identifiers=WAN_CROSS_ATTENTION,
            current_timestep_callback=current_timestep,
        )
    if name == "fastercache":
        return FasterCacheConfig(
            spatial_attention_block_skip_range=int(option),
            spatial_attention_block_identifiers=WAN_SELF_ATTENTION,
            attention_weight_callback=lambda _module: 0.5,  # diffusers' default, given to silence its warning
            is_guidance_distilled=True,
            current_timestep_callback=current_timestep,
        )
    if name == "fbc":
        return FirstBlockCacheConfig(threshold=option)
    if name == "taylorseer":
        if option < 1 or option != int(option):
            raise CacheSpecError(f"taylorseer:N needs a whole interval N >= 1, got {option}")
        return TaylorSeerCacheConfig(
            cache_interval=int(option),
            disable_cache_before_step=min(3, num_inference_steps),
            cache_identifiers=WAN_TAYLORSEER_MODULES,
            taylor_factors_dtype=dtype,
        )
    if name == "magcache":
        return MagCacheConfig(
            threshold=option, num_inference_steps=num_inference_steps, mag_ratios=load_mag_ratios(model_dir)
        )
    return None


def enable_step_cache(
    pipe, spec: str | None, num_inference_steps: int, model_dir: str | Path | None = None
) -> None:
    """Put the cache `spec` names on `pipe.transformer` (replacing any earlier one); None or "none" removes it.
    MagCache reads its ratios from `model_dir`, by default the folder the pipeline was loaded from."""
    transformer = pipe.transformer
    if getattr(transformer, "is_cache_enabled", False):
        transformer.disable_cache()
    model_dir = model_dir or pipe.name_or_path or None
    config = cache_config(
        spec or "none", num_inference_steps, model_dir, transformer.dtype, lambda: pipe.current_timestep
    )
    if config is not None:
        transformer.enable_cache(config)


def check_one_call_per_step(transformer, branches: int, context_windows: bool) -> None:
    """Refuse PAB or FasterCache on `transformer` when a step would call it more than once: `branches` guidance
    branches run one forward each, or every context window."""
    config = getattr(transformer, "_cache_config", None)
    name = ONE_CALL_PER_STEP.get(type(config)) if getattr(transformer, "is_cache_enabled", False) else None
    if name is None:
        return
    why = None
    if branches > 1:
        why = (
            "guidance run per branch (a guidance or text-guidance scale > 1 without batched guidance) calls it "
            "once per branch; run with --guidance 1 or batched guidance (--batch-guidance)"
        )
    elif context_windows:
        why = "context windows call it once per window; use --window-strategy chain"
    if why is not None:
        raise CacheSpecError(
            f"the {name} cache keeps one state for every transformer call, so a step must call the transformer "
            f"once: {why}, or use fbc, taylorseer or magcache (one state per branch and window)"
        )


def calibrate_mag_cache(
    pipe, call_kwargs: dict, num_inference_steps: int, save_dir: str | Path | None
) -> list[float]:
    """Run `pipe(**call_kwargs)` once uncached under MagCache's calibration and return (and store in `save_dir`)
    the per-step residual-magnitude ratios of the conditional branch."""
    transformer = pipe.transformer
    if getattr(transformer, "is_cache_enabled", False):
        transformer.disable_cache()
    # diffusers resets the calibration (and only prints it) after `num_inference_steps` steps; one step more
    # keeps the list readable from the hook's state at the end of each step.
    transformer.enable_cache(MagCacheConfig(calibrate=True, num_inference_steps=num_inference_steps + 1))
    head = HookRegistry.check_if_exists_or_initialize(transformer.blocks[0]).get_hook(
        "mag_cache_leader_block_hook"
    )
    ratios: list[float] = []

    def record(_pipe, _step, _timestep, _tensors):
        ratios[:] = head.state_manager._state_cache["cond"].calibration_ratios
        return {}

    try:
        # One forward per branch: the ratios are the conditional branch's own (its `cache_context`).
        pipe(
            **{**call_kwargs, "batch_guidance": False},
            num_inference_steps=num_inference_steps,
            callback_on_step_end=record,
        )
    finally:
        transformer.disable_cache()
    if len(ratios) != num_inference_steps:
        raise RuntimeError(
            f"MagCache calibration recorded {len(ratios)} ratios for {num_inference_steps} steps"
        )
    if save_dir is not None:
        payload = {"num_inference_steps": num_inference_steps, "branch": "cond", "ratios": ratios}
        mag_cache_path(save_dir).write_text(json.dumps(payload, indent=1) + "\n")
    return ratios


def synth_case_inputs(case) -> dict:
    """The pipeline inputs of an A2Bench-Synth case (`animatex.data.world.make_case`): every pose input."""
    from animatex.pose.draw import draw_pose_video

    height, width = case.reference.shape[:2]
    return {
        "image": case.reference,
        "pose_video": draw_pose_video(case.poses, width, height),
        "pose_keypoints": case.poses,
        "driving_video": case.driving,
        "ref_pose": draw_pose_video(case.reference_pose, width, height)[0],
        "prompt": case.caption,
        "output_type": "np",
    }


class SpeedOptionError(AnimatexError):
    """An attention backend or compilation this machine cannot run."""


# diffusers' backends a CPU runs (PyTorch's SDPA, its flash kernel and flex attention); the rest need a CUDA GPU
# (cudnn, efficient, flash-attn, sage, xformers), an NPU or an XLA device.
CPU_ATTENTION_BACKENDS = ("native", "_native_flash", "_native_math", "flex")


def attention_backends() -> tuple[str, ...]:
    """Every attention backend name diffusers knows."""
    from diffusers.models.attention_dispatch import AttentionBackendName

    return tuple(backend.value for backend in AttentionBackendName)


def parse_attention_backend(name: str) -> str:
    """The backend name, lower-cased, checked against diffusers' list."""
    name = name.strip().lower()
    if name not in attention_backends():
        raise SpeedOptionError(
            f"unknown attention backend {name!r}; choose one of {', '.join(attention_backends())}"
        )
    return name


def check_attention_backend(name: str | None, device: str | torch.device = "cpu") -> str | None:
    """Refuse a backend `device` cannot run, or whose package is missing, before any model loads."""
    if name is None:
        return None
    from diffusers.models.attention_dispatch import (
        AttentionBackendName,
        _check_attention_backend_requirements,
    )

    name = parse_attention_backend(name)
    if torch.device(device).type == "cpu" and name not in CPU_ATTENTION_BACKENDS:
        raise SpeedOptionError(
            f"attention backend {name} does not run on the CPU; there choose one of "
            f"{', '.join(CPU_ATTENTION_BACKENDS)} (the others need a GPU)"
        )
    try:
        _check_attention_backend_requirements(AttentionBackendName(name))
    except RuntimeError as error:
        raise SpeedOptionError(f"attention backend {name}: {error}") from None
    return name


def set_attention_backend(pipe, name: str | None, device: str | torch.device = "cpu") -> None:
    """Run the transformer's attention on backend `name` (diffusers' `set_attention_backend`); None: as it is."""
    name = check_attention_backend(name, device)
    if name is None:
        return
    try:
        pipe.transformer.set_attention_backend(name)
    except (RuntimeError, ValueError, OSError) as error:  # e.g. a Hub kernel that cannot be downloaded
        raise SpeedOptionError(f"attention backend {name}: {error}") from None


def check_compile(device: str | torch.device = "cpu") -> None:
    """Refuse `--compile` where torch.compile cannot build kernels: on the CPU it needs a C++ compiler."""
    import shutil

    if torch.device(device).type == "cpu" and not any(shutil.which(cc) for cc in ("g++", "c++", "clang++")):
        raise SpeedOptionError(
            "--compile on the CPU needs a C++ compiler (g++ or clang++) on PATH, which torch.compile uses to "
            "build its kernels; install one (e.g. apt-get install g++) or run without --compile"
        )


def compile_transformer(transformer, device: str | torch.device = "cpu") -> None:
    """torch.compile every block of `transformer` (diffusers' `compile_repeated_blocks` over the class's
    `_repeated_blocks`, Wan's `WanTransformerBlock`); the first call pays for compiling."""
    check_compile(device)
    transformer.compile_repeated_blocks()
