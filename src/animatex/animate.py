"""Files to pipeline and back: everything `animatex animate` and `animatex demo` do between the command line
and `AnimateXPipeline.__call__`.

The flow: load the pipeline folder -> read the reference picture -> read the driving video and detect its
poses (or load a pose file) -> detect the reference's pose -> retarget (`align`) -> draw the pose video at
the output size -> run the pipeline -> uint8 frames, plus a side-by-side grid for looking at the result.
Notes about rounding and fallbacks are `AnimatexWarning`s; bad input raises `AnimatexError`.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from animatex.errors import AnimatexError
from animatex.io import DEFAULT_FPS, read_video, resize_frames
from animatex.pose.sequence import PoseSequence

if TYPE_CHECKING:
    from animatex.pipelines import AnimateXPipeline
    from animatex.pipelines.windows import WindowSettings

# The shipped demo model: weights/animatex-demo in the working directory (as `make demo` runs it), else in the
# checkout this package is installed from (`pip install -e .`), so `animatex animate` works from any folder.
DEFAULT_MODEL_DIR = Path("weights") / "animatex-demo"
CHECKOUT_ROOT = Path(__file__).resolve().parents[2]
ALIGN_MODES: tuple[str, ...] = ("none", "global", "bones")
GRID_LABEL_FONT = cv2.FONT_HERSHEY_SIMPLEX


class AnimatexWarning(UserWarning):
    """A note about a rounded value or a fallback; the run goes on."""


def _note(message: str) -> None:
    warnings.warn(message, AnimatexWarning, stacklevel=3)


@dataclass
class Animation:
    """The result of `animate`, with the inputs at the output size for `make_grid`.

    Frames are uint8 (F, H, W, 3); `driving` is None when the motion came from a pose file. `poses` are the
    driving poses after retargeting (in the reference's pixels, or the driving's with align "none"). When the
    frames were streamed (`animate(on_frames=...)`), `frames` and the grid's videos (`pose_video`, `driving`,
    `driving_pose_video`) are None: nothing grows with the video's length.
    """

    frames: np.ndarray | None
    reference: np.ndarray
    pose_video: np.ndarray | None
    driving: np.ndarray | None
    driving_pose_video: np.ndarray | None
    poses: PoseSequence
    fps: float
    align: str


# ---- arguments ------------------------------------------------------------------------------------------
def parse_size(text: str) -> tuple[int, int]:
    """'832x480' -> (832, 480) as (width, height)."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if match is None:
        raise AnimatexError(f"--size must look like WIDTHxHEIGHT, e.g. 832x480; got {text!r}")
    width, height = int(match[1]), int(match[2])
    if width < 1 or height < 1:
        raise AnimatexError(f"--size must be positive, got {width}x{height}")
    return width, height


# ---- loading --------------------------------------------------------------------------------------------
def default_model_dir() -> Path | None:
    """The shipped demo model's folder (`DEFAULT_MODEL_DIR` here, else in `CHECKOUT_ROOT`), None if neither."""
    for candidate in (DEFAULT_MODEL_DIR, CHECKOUT_ROOT / DEFAULT_MODEL_DIR):
        if candidate.is_dir():
            return candidate
    return None


def load_pipeline(
    model: str | Path | None = None,
    device: str = "cpu",
    memory: str | None = None,
    transformer_gguf: str | Path | None = None,
    attention_backend: str | None = None,
    compile: bool = False,
    lora: Sequence[str] | None = None,
) -> AnimateXPipeline:
    """`AnimateXPipeline.from_pretrained(model)`; `None` means the shipped demo model (`default_model_dir`).
    `memory` names memory modes ("fp8+group-offload", `animatex.pipelines.memory`) applied instead of `.to`.
    `transformer_gguf`: a GGUF file of the transformer, loaded with the folder's pose modules
    (`animatex.convert.gguf.load_gguf_transformer`) in place of the folder's transformer weights.
    `attention_backend`: a diffusers attention backend for the transformer (e.g. "_native_flash", "sage");
    `compile`: torch.compile the transformer's blocks (`animatex.pipelines.speed`).
    `lora`: LoRA files ("FILE" or "FILE:SCALE", `animatex.pipelines.lora`) added to the transformer first, after
    the folder's own `animatex_lora.safetensors` if it has one."""
    if model is None:
        model = default_model_dir()
        if model is None:
            raise AnimatexError(
                f"no --model given and the default demo model {DEFAULT_MODEL_DIR} is not here nor in an animatex "
                "checkout: it ships in the repository (run from its root, or install it with pip install -e), or "
                "pass --model DIR with an AnimateXPipeline folder (save_pretrained output, or `animatex convert`)"
            )
    model = Path(model)
    if not model.is_dir():
        raise AnimatexError(f"model folder not found: {model} (pass --model with an AnimateXPipeline folder)")
    if not (model / "model_index.json").is_file():
        raise AnimatexError(
            f"{model} is not a pipeline folder: it has no model_index.json (write one with "
            "AnimateXPipeline.save_pretrained or `animatex convert`)"
        )
    import torch

    from animatex.pipelines import AnimateXPipeline
    from animatex.pipelines.memory import apply_memory_mode, check_memory_mode
    from animatex.pipelines.speed import check_attention_backend, check_compile

    check_memory_mode(memory, device)  # before the (slow) load
    check_attention_backend(attention_backend, device)
    if compile:
        check_compile(device)
    # On the CPU everything computes in float32: a component stored in half precision (the demo model's text
    # encoder) is upcast on load, which is exact and avoids diffusers' float16-on-CPU warning.
    dtype = torch.float32 if torch.device(device).type == "cpu" else None
    components = {}
    if transformer_gguf is not None:
        from animatex.convert.gguf import check_gguf_options, folder_weight_dtype, load_gguf_transformer

        check_gguf_options(transformer_gguf, memory)
        compute_dtype = dtype or folder_weight_dtype(model) or torch.bfloat16
        components["transformer"] = load_gguf_transformer(transformer_gguf, model, compute_dtype)
    try:
        pipe = AnimateXPipeline.from_pretrained(model, **components, **({"dtype": dtype} if dtype else {}))
    except Exception as error:  # diffusers raises many types for a broken or foreign folder
        raise AnimatexError(f"cannot load the pipeline in {model}: {error}") from error
    if not isinstance(pipe, AnimateXPipeline):
        raise AnimatexError(f"{model} holds a {type(pipe).__name__}, not an AnimateXPipeline")
    from animatex.pipelines.lora import RELEASE_LORA_FILE, LoraSpec, load_loras

    # A folder converted with `--lora adapter` holds the release's LoRA beside the base DiT: without it the model
    # is plain Wan with pose modules, so it always loads first, at scale 1 (the release's merge).
    release_lora = model / RELEASE_LORA_FILE
    lora = [LoraSpec(release_lora), *(lora or [])] if release_lora.is_file() else list(lora or [])
    if lora:
        load_loras(pipe, lora)
    if memory:
        apply_memory_mode(pipe, memory, device)
    else:
        pipe = pipe.to(device)
    if attention_backend is not None or compile:
        from animatex.pipelines.speed import compile_transformer, set_attention_backend

        set_attention_backend(pipe, attention_backend, device)
        if compile:
            compile_transformer(pipe.transformer, device)
    return pipe


def read_driving(
    path: str | Path,
    max_frames: int | None = None,
    backend: str = "mediapipe",
    dwpose_dir: str | Path | None = None,
    progress: bool = True,
) -> tuple[np.ndarray | None, PoseSequence]:
    """The driving video (None for a pose file) and its poses: a `.npz` is loaded, anything else detected."""
    path = Path(path)
    if path.suffix.lower() == ".npz":
        poses = PoseSequence.load(path)
        return None, poses[:max_frames] if max_frames is not None else poses
    from animatex.pose.detect import extract_poses

    frames, fps = read_video(path, max_frames=max_frames)
    poses = extract_poses(
        frames, fps, backend=backend, dwpose_dir=dwpose_dir, progress=progress, name=str(path)
    )
    return frames, poses


def detect_reference_pose(
    reference: np.ndarray,
    backend: str = "mediapipe",
    dwpose_dir: str | Path | None = None,
    name: str = "the reference image",
) -> PoseSequence | None:
    """The reference's pose (one frame), or None with a note when no body is found (a teapot has none)."""
    from animatex.pose.detect import extract_poses

    try:
        return extract_poses(
            reference[None], DEFAULT_FPS, backend=backend, dwpose_dir=dwpose_dir, smooth=False,
            progress=False, name=name,
        )  # fmt: skip
    except AnimatexError as error:
        if not str(error).startswith("no person found"):
            raise
        _note(
            f"no body pose found in {name} (usual for non-human characters): the driving pose cannot be "
            "retargeted onto it and the model gets no reference pose"
        )
        return None


# ---- the run --------------------------------------------------------------------------------------------
def retarget_poses(
    poses: PoseSequence, reference_pose: PoseSequence | None, align: str
) -> tuple[PoseSequence, str]:
    """(driving poses retargeted onto the reference, the mode used): without a reference pose only "none" works."""
    from animatex.pose.retarget import align as retarget

    if align not in ALIGN_MODES:
        raise AnimatexError(f"unknown align mode {align!r}; choose one of {', '.join(ALIGN_MODES)}")
    if align == "none":
        return poses, align
    if reference_pose is None:
        _note(f"--align {align} needs the reference's pose, which is unknown: using align none")
        return poses, "none"
    return retarget(poses, reference_pose, align), align


def plan_line(
    pipe: AnimateXPipeline,
    reference: np.ndarray,
    poses: PoseSequence,
    *,
    driving: np.ndarray | None = None,
    size: tuple[int, int] | None = None,
    num_frames: int | None = None,
    num_inference_steps: int | None = None,
    guidance_scale: float | None = None,
    text_guidance_scale: float | None = None,
    windows: WindowSettings | None = None,
) -> str:
    """One line that says what `animate` with these arguments will do, before any slow work starts."""
    import logging

    from animatex.pipelines.inputs import FramesInfo

    logger = logging.getLogger("animatex")
    level = logger.level
    logger.setLevel(logging.ERROR)  # the run itself gives the rounding notes
    try:
        width, height = size if size is not None else (None, None)
        height, width = pipe.fit_size(height, width, FramesInfo(1, *reference.shape[:2]))
        settings = pipe.window_settings(windows)
        requested = min(num_frames or len(poses), len(poses))
        windowed = pipe.runs_in_windows(settings, requested)
        frames = requested if windowed else pipe.fit_num_frames(num_frames, len(poses))
    finally:
        logger.setLevel(level)
    config = pipe.config
    steps = num_inference_steps or config.default_num_inference_steps
    guidance = config.default_guidance_scale if guidance_scale is None else guidance_scale
    text_guidance = (
        config.get("default_text_guidance_scale", 1.0) if text_guidance_scale is None else text_guidance_scale
    )
    branches = 1 + (guidance > 1) + (text_guidance > 1)
    how = "as asked" if size is not None else "the model's own area, the reference's aspect"
    parts = [
        f"{width}x{height} ({how})",
        f"{frames} frames at {poses.fps:g} fps ({frames / poses.fps:.1f} s)",
        f"{steps} steps x {branches} guidance branch{'es' if branches > 1 else ''}",
    ]
    if windowed:
        parts.append(f"in {settings.strategy} windows of {settings.frames} frames")
    indicator = getattr(pipe.transformer, "pose_indicator", None)
    if indicator is not None and driving is not None:
        parts.append(f"IPI: {indicator.temporal_compression(settings.frames if windowed else frames)}")
    parts.append(_time_estimate(pipe, width, height, frames, steps, branches, settings if windowed else None))
    return "plan: " + ", ".join(parts)


def _time_estimate(
    pipe: AnimateXPipeline, width: int, height: int, frames: int, steps: int, branches: int,
    windows: WindowSettings | None,
) -> str:  # fmt: skip
    """'~12 s on cpu (estimate)' from the FLOPs and the device's throughput (`animatex.pipelines.plan`)."""
    from animatex.pipelines.plan import Workload, pipeline_call_seconds
    from animatex.pipelines.windows import chain_windows, context_windows, round_up_frames

    count = 1
    # Every window counts as a call of the window's length (the VAE, too, for context windows).
    if windows is not None:
        stride = pipe.vae_scale_factor_temporal
        if windows.strategy == "chain":
            count = len(chain_windows(frames, windows.frames, windows.overlap))
        else:
            latent = (round_up_frames(frames, stride) - 1) // stride + 1
            count = len(
                context_windows(latent, (windows.frames - 1) // stride + 1, windows.overlap // stride)
            )
        frames = windows.frames
    seconds = pipeline_call_seconds(
        pipe, Workload(width, height, frames, guidance_branches=branches), steps, count
    )
    device = pipe._execution_device.type
    if seconds is None:
        return f"time on {device}: unknown (animatex plan --tflops)"
    shown = f"{seconds:,.0f}" if seconds >= 10 else f"{seconds:.2g}"
    return f"~{shown} s on {device} (estimate)"


def animate(
    pipe: AnimateXPipeline,
    reference: np.ndarray,
    poses: PoseSequence,
    *,
    driving: np.ndarray | None = None,
    reference_pose: PoseSequence | None = None,
    prompt: str = "",
    align: str = "bones",
    size: tuple[int, int] | None = None,
    num_frames: int | None = None,
    num_inference_steps: int | None = None,
    guidance_scale: float | None = None,
    text_guidance_scale: float | None = None,
    seed: int = 0,
    task: str = "animate",
    progress: bool = True,
    cache: str | None = None,
    windows: WindowSettings | None = None,
    on_frames: Callable[[np.ndarray], None] | None = None,
    batch_guidance: bool | None = None,
) -> Animation:
    """Animate `reference` (uint8 (H, W, 3)) with the driving `poses` and, when given, the driving video.

    Retargeting is decided here; everything else (the output size and length, drawing the poses, which
    conditions the model reads) belongs to the pipeline.

    Args:
        pipe: The pipeline to run.
        reference: The character picture.
        poses: Driving poses, one per frame, in the driving video's pixels.
        driving: The driving video (F, H, W, 3), read by the Implicit Pose Indicator; None skips the IPI.
        reference_pose: The reference's pose (1 frame) for retargeting and the reference-pose encoder.
        prompt: Text; describe the background motion here ("..., the snow is falling behind it").
        align: Retarget the driving poses onto `reference_pose`: "none", "global" or "bones".
        size: Output (width, height); default the model's own area in the reference's aspect ratio
            (`AnimateXPipeline.fit_size`). Rounded down to the pipeline's multiples.
        num_frames: Frames to generate (default all): exactly that many in windows, rounded down to 4k+1 in one.
        num_inference_steps / guidance_scale / text_guidance_scale / seed: Sampler settings; None takes the
            pipeline's defaults (text_guidance_scale: guidance on the prompt alone, see `AnimateXPipeline`).
        task: "animate", or "ti2v" (text drives the video; the poses set the length and, with `driving`, feed
            the IPI as in the release).
        progress: Show the pipeline's progress bar (one bar over windows x steps).
        windows: How a driving video longer than the model's native length is cut into windows
            (`animatex.pipelines.windows.WindowSettings`); None: the model's defaults.
        on_frames: Gets the result window by window as uint8 (f, H, W, 3) frames (to write them as they come);
            the returned `Animation` then holds no frames (see `Animation`).
        cache: A step cache for this call, e.g. "fbc" or "fbc:0.1" (`animatex.pipelines.speed`); "none" removes
            one; None leaves the pipeline as it is.
        batch_guidance: Run the guidance branches as one batched forward (`AnimateXPipeline`); None: batched
            unless a CUDA device lacks the memory.
    """
    import torch

    from animatex.pose.draw import draw_pose_video

    # 1. Check inputs that are ours; the pipeline checks the rest
    reference = np.asarray(reference)
    if reference.dtype != np.uint8 or reference.ndim != 3 or reference.shape[2] != 3:
        raise AnimatexError(f"the reference must be uint8 (H, W, 3), got {reference.dtype} {reference.shape}")
    if driving is not None and len(driving) != len(poses):
        raise AnimatexError(f"the driving video has {len(driving)} frames but its poses have {len(poses)}")
    if reference_pose is not None and len(reference_pose) != 1:
        raise AnimatexError(f"the reference pose must be one frame, got {len(reference_pose)}")

    # 2. Retarget the driving poses onto the reference (ti2v draws no pose: text drives the video)
    aligned, align = retarget_poses(poses, reference_pose, align) if task == "animate" else (poses, "none")

    # 3. Run the pipeline: it sizes the output, draws the poses and feeds what its model reads
    pipe.set_progress_bar_config(disable=not progress)
    if cache is not None:
        from animatex.pipelines.speed import enable_step_cache

        enable_step_cache(pipe, cache, num_inference_steps or pipe.config.default_num_inference_steps)
    width, height = size if size is not None else (None, None)
    kept: list[np.ndarray] = []
    count, shape = 0, None

    def take(window: np.ndarray) -> None:
        nonlocal count, shape
        frames = np.round(np.clip(window[0], 0.0, 1.0) * 255.0).astype(np.uint8)
        count, shape = count + len(frames), frames.shape[1:3]
        kept.append(frames) if on_frames is None else on_frames(frames)

    pipe(
        image=reference,
        pose_video=aligned,
        driving_video=driving,
        prompt=prompt,
        height=height,
        width=width,
        num_frames=num_frames,
        num_inference_steps=num_inference_steps,
        guidance_scale=guidance_scale,
        text_guidance_scale=text_guidance_scale,
        generator=torch.Generator().manual_seed(seed),
        output_type="np",
        task=task,
        ref_pose=reference_pose,
        windows=windows,
        on_frames=take,
        batch_guidance=batch_guidance,
    )

    # 4. The inputs at the output's size and length, for the grid
    height, width = shape
    grid = on_frames is None
    return Animation(
        frames=np.concatenate(kept) if grid else None,
        reference=resize_frames(reference, width, height),
        pose_video=draw_pose_video(aligned[:count], width, height) if grid else None,
        driving=resize_frames(driving[:count], width, height) if grid and driving is not None else None,
        driving_pose_video=draw_pose_video(poses[:count], width, height) if grid else None,
        poses=aligned[:count],
        fps=poses.fps,
        align=align,
    )


# ---- looking at it --------------------------------------------------------------------------------------
def _caption_bar(text: str, width: int, height: int) -> np.ndarray:
    """A dark (height, width, 3) bar with `text` in white, shrunk to fit."""
    bar = np.full((height, width, 3), 32, np.uint8)
    scale = height / 30.0
    thickness = max(1, int(round(height / 20)))
    while scale > 0.2 and cv2.getTextSize(text, GRID_LABEL_FONT, scale, thickness)[0][0] > width - 4:
        scale *= 0.9
    (text_width, text_height), _ = cv2.getTextSize(text, GRID_LABEL_FONT, scale, thickness)
    origin = (max(2, (width - text_width) // 2), (height + text_height) // 2)
    cv2.putText(bar, text, origin, GRID_LABEL_FONT, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    return bar


def make_grid(panels: Sequence[tuple[str, np.ndarray]], bar_height: int | None = None) -> np.ndarray:
    """Side by side panels, each under a caption bar: (F, bar + H, sum of widths, 3) uint8.

    Each panel is (label, frames): a video (F, H, W, 3) or a picture (H, W, 3) held for every frame. All
    panels share one height; videos share one length.
    """
    if not panels:
        raise AnimatexError("make_grid needs at least one panel")
    arrays = [np.asarray(frames) for _, frames in panels]
    for (label, _), frames in zip(panels, arrays, strict=True):
        if frames.dtype != np.uint8 or frames.ndim not in (3, 4) or frames.shape[-1] != 3:
            raise AnimatexError(
                f"grid panel {label!r} must be uint8 (H, W, 3) or (F, H, W, 3), got {frames.dtype} {frames.shape}"
            )
    heights = {frames.shape[-3] for frames in arrays}
    lengths = {len(frames) for frames in arrays if frames.ndim == 4}
    if len(heights) != 1:
        raise AnimatexError(f"grid panels must share one height, got {sorted(heights)}")
    if len(lengths) > 1:
        raise AnimatexError(f"grid videos must share one length, got {sorted(lengths)} frames")
    (height,) = heights
    num_frames = lengths.pop() if lengths else 1
    # Even, so the whole grid stays even-sized for H.264 when the panels are.
    bar_height = bar_height or max(12, int(round(height * 0.12)) // 2 * 2)
    columns = []
    for (label, _), frames in zip(panels, arrays, strict=True):
        if frames.ndim == 3:
            frames = np.broadcast_to(frames, (num_frames, *frames.shape))
        bar = np.broadcast_to(
            _caption_bar(label, frames.shape[2], bar_height), (num_frames, bar_height, frames.shape[2], 3)
        )
        columns.append(np.concatenate([bar, frames], axis=1))
    return np.concatenate(columns, axis=2)


def animation_grid(animation: Animation) -> np.ndarray:
    """reference | driving | pose | result, each with a caption bar."""
    driving = ("driving", animation.driving)
    if animation.driving is None:
        driving = ("driving pose (file)", animation.driving_pose_video)
    pose_label = "pose" if animation.align == "none" else f"pose (align {animation.align})"
    return make_grid(
        [
            ("reference", animation.reference),
            driving,
            (pose_label, animation.pose_video),
            ("result", animation.frames),
        ]
    )
