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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from animatex.errors import AnimatexError
from animatex.io import DEFAULT_FPS, read_video
from animatex.pose.sequence import PoseSequence

if TYPE_CHECKING:
    from animatex.pipelines import AnimateXPipeline

# The shipped demo model: weights/animatex-demo in the working directory (as `make demo` runs it), else in the
# checkout this package is installed from (`pip install -e .`), so `animatex animate` works from any folder.
DEFAULT_MODEL_DIR = Path("weights") / "animatex-demo"
CHECKOUT_ROOT = Path(__file__).resolve().parents[2]
ALIGN_MODES: tuple[str, ...] = ("none", "global", "bones")
TASKS: tuple[str, ...] = ("animate", "ti2v")
GRID_LABEL_FONT = cv2.FONT_HERSHEY_SIMPLEX


class AnimatexWarning(UserWarning):
    """A note about a rounded value or a fallback; the run goes on."""


def _note(message: str) -> None:
    warnings.warn(message, AnimatexWarning, stacklevel=3)


@dataclass
class Animation:
    """The result of `animate`, with the inputs at the output size for `make_grid`.

    Frames are uint8 (F, H, W, 3); `driving` is None when the motion came from a pose file. `poses` are the
    driving poses after retargeting (in the reference's pixels, or the driving's with align "none").
    """

    frames: np.ndarray
    reference: np.ndarray
    pose_video: np.ndarray
    driving: np.ndarray | None
    driving_pose_video: np.ndarray
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


def fit_size(width: int, height: int, multiple: tuple[int, int]) -> tuple[int, int]:
    """Round (width, height) down to the pipeline's (height, width) multiples, with a note when that changes them."""
    h_multiple, w_multiple = multiple
    if width < w_multiple or height < h_multiple:
        raise AnimatexError(
            f"the output size {width}x{height} is too small: width and height must be at least "
            f"{w_multiple} and {h_multiple} (the VAE and patch strides); pass a larger --size"
        )
    fit = (width // w_multiple * w_multiple, height // h_multiple * h_multiple)
    if fit != (width, height):
        _note(
            f"the output size must be a multiple of {w_multiple}x{h_multiple}: "
            f"{width}x{height} rounded down to {fit[0]}x{fit[1]}"
        )
    return fit


def fit_num_frames(requested: int | None, available: int, stride: int) -> int:
    """Frames to generate: `requested` (default all), at most `available`, rounded down to k * stride + 1."""
    if requested is not None and requested < 1:
        raise AnimatexError(f"--frames must be a positive integer, got {requested}")
    if requested is not None and requested > available:
        raise AnimatexError(
            f"--frames {requested} asks for more frames than the driving motion has ({available}); "
            f"pass at most {available}"
        )
    count = available if requested is None else requested
    fit = (count - 1) // stride * stride + 1
    if fit != count:
        _note(
            f"the frame count must be {stride}k+1 (the VAE's temporal stride): "
            f"using the first {fit} of {count} frames"
        )
    return fit


# ---- loading --------------------------------------------------------------------------------------------
def default_model_dir() -> Path | None:
    """The shipped demo model's folder (`DEFAULT_MODEL_DIR` here, else in `CHECKOUT_ROOT`), None if neither."""
    for candidate in (DEFAULT_MODEL_DIR, CHECKOUT_ROOT / DEFAULT_MODEL_DIR):
        if candidate.is_dir():
            return candidate
    return None


def load_pipeline(
    model: str | Path | None = None, device: str = "cpu", memory: str | None = None
) -> AnimateXPipeline:
    """`AnimateXPipeline.from_pretrained(model)`; `None` means the shipped demo model (`default_model_dir`).
    `memory` names memory modes ("fp8+group-offload", `animatex.pipelines.memory`) applied instead of `.to`."""
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

    check_memory_mode(memory, device)  # before the (slow) load
    # On the CPU everything computes in float32: a component stored in half precision (the demo model's text
    # encoder) is upcast on load, which is exact and avoids diffusers' float16-on-CPU warning.
    dtype = torch.float32 if torch.device(device).type == "cpu" else None
    try:
        pipe = AnimateXPipeline.from_pretrained(model, **({"dtype": dtype} if dtype else {}))
    except Exception as error:  # diffusers raises many types for a broken or foreign folder
        raise AnimatexError(f"cannot load the pipeline in {model}: {error}") from error
    if not isinstance(pipe, AnimateXPipeline):
        raise AnimatexError(f"{model} holds a {type(pipe).__name__}, not an AnimateXPipeline")
    if memory:
        apply_memory_mode(pipe, memory, device)
        return pipe
    return pipe.to(device)


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
            f"no body pose found in {name} (usual for non-human characters): the driving pose is used "
            "without retargeting (align none) and without a reference pose"
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


def _resize(frames: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize (H, W, 3) or (F, H, W, 3) uint8 frames: area when shrinking, bilinear otherwise."""
    if frames.shape[-3:-1] == (height, width):
        return frames
    shrink = frames.shape[-2] > width or frames.shape[-3] > height
    interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    if frames.ndim == 3:
        return cv2.resize(frames, (width, height), interpolation=interpolation)
    return np.stack([cv2.resize(frame, (width, height), interpolation=interpolation) for frame in frames])


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
) -> Animation:
    """Animate `reference` (uint8 (H, W, 3)) with the driving `poses` and, when given, the driving video.

    Args:
        pipe: The pipeline to run.
        reference: The character picture; resized (stretched if the aspect differs) to the output size.
        poses: Driving poses, one per frame, in the driving video's pixels.
        driving: The driving video (F, H, W, 3), read by the Implicit Pose Indicator; None skips the IPI.
        reference_pose: The reference's pose (1 frame) for retargeting and the reference-pose encoder.
        prompt: Text; describe the background motion here ("..., the snow is falling behind it").
        align: Retarget the driving poses onto `reference_pose`: "none", "global" or "bones".
        size: Output (width, height); default the reference's size. Rounded down to the pipeline's multiples.
        num_frames: Frames to generate (default all), rounded down to 4k+1.
        num_inference_steps / guidance_scale / text_guidance_scale / seed: Sampler settings; None takes the
            pipeline's defaults (text_guidance_scale: guidance on the prompt alone, see `AnimateXPipeline`).
        task: "animate", or "ti2v" (text drives the whole video; the poses only set the length).
        progress: Show the pipeline's progress bar.
        cache: A step cache for this call, e.g. "fbc" or "fbc:0.1" (`animatex.pipelines.speed`); "none" removes
            one; None leaves the pipeline as it is.
    """
    import torch

    from animatex.pose.draw import draw_pose_video

    # 1. Check inputs
    if task not in TASKS:
        raise AnimatexError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    if num_inference_steps is not None and num_inference_steps < 1:
        raise AnimatexError(f"--steps must be a positive integer, got {num_inference_steps}")
    reference = np.asarray(reference)
    if reference.dtype != np.uint8 or reference.ndim != 3 or reference.shape[2] != 3:
        raise AnimatexError(f"the reference must be uint8 (H, W, 3), got {reference.dtype} {reference.shape}")
    if driving is not None and len(driving) != len(poses):
        raise AnimatexError(f"the driving video has {len(driving)} frames but its poses have {len(poses)}")
    if reference_pose is not None and len(reference_pose) != 1:
        raise AnimatexError(f"the reference pose must be one frame, got {len(reference_pose)}")

    # 2. Output size and length
    width, height = size if size is not None else (reference.shape[1], reference.shape[0])
    width, height = fit_size(width, height, pipe.size_multiple)
    source_aspect, target_aspect = reference.shape[1] / reference.shape[0], width / height
    if abs(source_aspect / target_aspect - 1.0) > 0.02:
        _note(
            f"the reference ({reference.shape[1]}x{reference.shape[0]}) is stretched to {width}x{height}; "
            "pass a --size with the reference's aspect ratio to avoid that"
        )
    num_frames = fit_num_frames(num_frames, len(poses), pipe.vae_scale_factor_temporal)
    poses = poses[:num_frames]
    driving = driving[:num_frames] if driving is not None else None

    # 3. Retarget the driving poses onto the reference and draw them at the output size
    aligned, align = retarget_poses(poses, reference_pose, align)
    pose_video = draw_pose_video(aligned, width, height)
    uses_ref_pose = bool(getattr(pipe.transformer.config, "use_ref_pose_encoder", False))
    ref_pose = (
        draw_pose_video(reference_pose, width, height)[0]
        if reference_pose is not None and uses_ref_pose
        else None
    )

    # 4. Run the pipeline; the IPI reads the driving video and its keypoints together, or neither
    pipe.set_progress_bar_config(disable=not progress)
    if cache is not None:
        from animatex.pipelines.speed import enable_step_cache

        enable_step_cache(pipe, cache, num_inference_steps or pipe.config.default_num_inference_steps)
    reference_frame = _resize(reference, width, height)
    output = pipe(
        image=reference_frame,
        pose_video=pose_video,
        pose_keypoints=aligned if driving is not None else None,
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
        ref_pose=ref_pose,
    )
    frames = np.round(np.clip(output.frames[0], 0.0, 1.0) * 255.0).astype(np.uint8)
    return Animation(
        frames=frames,
        reference=reference_frame,
        pose_video=pose_video,
        driving=_resize(driving, width, height) if driving is not None else None,
        driving_pose_video=draw_pose_video(poses, width, height),
        poses=aligned,
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
