"""What the web app does, without gradio: check uploads, preview the poses, animate, and write the files.

Every step calls the library's public functions (`animatex.animate`, `animatex.io`, `animatex.pose.draw`), the
same ones `animatex animate` uses; the app (`animatex.ui.app`) only wires them to widgets. Everything the app
writes goes under one output folder: `runs/` (one new folder per animation, never reused), `previews/` and
`examples/` (the bundled A2Bench-Synth cases, generated on first start).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from animatex.animate import (
    AnimatexWarning,
    animate,
    animation_grid,
    detect_reference_pose,
    make_grid,
    parse_size,
    read_driving,
    retarget_poses,
)
from animatex.data.captions import subject_of
from animatex.errors import AnimatexError
from animatex.evaluation.background import DIRECTION_PROMPTS, DYNAMIC_PROMPTS, STATIC_PROMPTS
from animatex.io import (
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
    read_image,
    read_video,
    resize_frames,
    write_image,
    write_video,
)
from animatex.io.atomic import write_text
from animatex.pipelines.windows import WindowSettings
from animatex.pose.draw import draw_pose, draw_pose_video
from animatex.pose.sequence import PoseSequence

if TYPE_CHECKING:
    from animatex.pipelines import AnimateXPipeline

POSE_SUFFIX = ".npz"
# What the background should do: the phrase replaces whatever the prompt says after its first comma (the
# captions' "<subject> is <verb>, <background>." form). These are the phrases the benchmark's prompt checks
# use (animatex.evaluation.background), so the app asks the model what it was measured on.
BACKGROUND_PRESETS: dict[str, str | None] = {
    "as written": None,
    "still": STATIC_PROMPTS["static"],
    "snow": DYNAMIC_PROMPTS["snow"],
    "rain": DYNAMIC_PROMPTS["rain"],
    "flames": DYNAMIC_PROMPTS["flames"],
    "drifting left": DIRECTION_PROMPTS["left"],
    "drifting right": DIRECTION_PROMPTS["right"],
}
# Skeletons are hard to see on a 64 px picture: previews are drawn with the short side at least this long.
PREVIEW_MIN_SIDE = 256
# The bundled examples (A2Bench-Synth test subset: held-out characters and motions), at the demo model's
# training size. (split, seed): clip 0 of each; seed 0 anthro is `animatex demo`'s case.
EXAMPLE_CASES: tuple[tuple[str, int], ...] = (("anthro", 0), ("human", 0), ("anthro", 7))
EXAMPLE_SIZE, EXAMPLE_FRAMES = 64, 17


# The long-video and speed choices the page offers (the CLI's --window-strategy and --cache).
MODEL_DEFAULT = "the model's default"
WINDOW_CHOICES: tuple[str, ...] = (MODEL_DEFAULT, "chain", "context", "none")
CACHE_CHOICES: tuple[str, ...] = ("none", "fbc", "fbc:0.1", "taylorseer", "pab", "fastercache")


@dataclass(frozen=True)
class UploadLimits:
    """What the app accepts; anything larger is refused with a message before it is decoded."""

    max_file_mb: float = 100.0
    max_image_pixels: int = 4096 * 4096
    max_video_pixels: int = 1920 * 1088
    max_frames: int = 241

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)


@dataclass(frozen=True)
class Inputs:
    """What the pose preview and the animation both read: the uploads' paths and the framing."""

    reference: str | Path | None
    driving: str | Path | None
    reference_pose: str | Path | None = None
    driving_poses: str | Path | None = None
    align: str = "bones"
    size: str = ""  # WIDTHxHEIGHT; blank: the reference's size
    frames: int = 17


@dataclass
class Result:
    """One animation's files (all in `folder`) and the notes made on the way."""

    folder: Path
    video: Path
    grid: Path
    poses: Path
    settings: Path
    prompt: str
    size: str  # WIDTHxHEIGHT
    num_frames: int
    notes: list[str] = field(default_factory=list)


def compose_prompt(prompt: str, background: str) -> str:
    """The prompt with its background part (after the first comma) replaced by the preset's phrase."""
    if background not in BACKGROUND_PRESETS:
        raise AnimatexError(
            f"unknown background preset {background!r}; choose one of {', '.join(BACKGROUND_PRESETS)}"
        )
    prompt = " ".join(prompt.split())
    phrase = BACKGROUND_PRESETS[background]
    if phrase is None:
        return prompt
    subject = subject_of(prompt) if prompt else ""
    return f"{subject}, {phrase}." if subject else f"{phrase[0].upper()}{phrase[1:]}."


# Notes (the facade's `AnimatexWarning`s, the pipeline's warnings logged under "animatex") are collected per
# thread: the app serves several requests at once, and `warnings.catch_warnings` swaps process-wide state, so
# two overlapping requests would lose each other's notes.
_local = threading.local()
_install_lock = threading.Lock()
_showwarning_before: Callable[..., None] | None = None


def _route_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    notes = getattr(_local, "notes", None)
    if notes is not None and issubclass(category, AnimatexWarning):
        notes.append(str(message))
        return
    _showwarning_before(message, category, filename, lineno, file, line)


class _NoteCollector(logging.Handler):
    """Adds the "animatex" loggers' warnings to the notes of the thread that logged them, if it collects any."""

    def emit(self, record: logging.LogRecord) -> None:
        notes = getattr(_local, "notes", None)
        if notes is not None:
            notes.append(record.getMessage())


@contextmanager
def collect_notes() -> Iterator[list[str]]:
    """Gather the `AnimatexWarning` notes this thread raises inside (rounded sizes, fallbacks), each once."""
    global _showwarning_before
    with _install_lock:
        if _showwarning_before is None:
            _showwarning_before = warnings.showwarning
            warnings.showwarning = _route_warning
            warnings.filterwarnings("always", category=AnimatexWarning)
            logging.getLogger("animatex").addHandler(_NoteCollector(logging.WARNING))
    outer = getattr(_local, "notes", None)
    notes: list[str] = []
    _local.notes = notes
    try:
        yield notes
    finally:
        _local.notes = outer
        notes[:] = dict.fromkeys(notes)


def _note(message: str) -> None:
    warnings.warn(message, AnimatexWarning, stacklevel=3)


def _file_key(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path.resolve()), stat.st_mtime_ns, stat.st_size


def _zoom(width: int, height: int) -> int:
    """Whole-number magnification that brings the short side to at least `PREVIEW_MIN_SIDE`."""
    return max(1, int(np.ceil(PREVIEW_MIN_SIDE / min(width, height))))


class Studio:
    """The app's state: one loaded pipeline, an output folder and a small cache of detected poses.

    Methods take file paths (what an upload widget hands over), check them against `limits`, and return
    file paths under `out_dir`. Bad input raises `AnimatexError`; notes come back as strings.
    """

    def __init__(
        self,
        pipe: AnimateXPipeline,
        out_dir: str | Path,
        *,
        limits: UploadLimits | None = None,
        backend: str = "mediapipe",
        dwpose_dir: str | Path | None = None,
        cache_size: int = 8,
        memory: str = "none",
    ) -> None:
        self.pipe = pipe
        self.memory = memory  # the memory mode `pipe` was loaded with (`animatex.animate.load_pipeline`)
        self.out_dir = Path(out_dir).resolve()
        self.limits = limits or UploadLimits()
        self.backend = backend
        self.dwpose_dir = dwpose_dir
        self._cache: OrderedDict[tuple, Any] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    # ---- inputs ------------------------------------------------------------------------------------------
    def check_upload(self, path: str | Path | None, what: str, kinds: tuple[str, ...]) -> Path:
        """The upload's path after checking it exists, is one of `kinds` ("image", "video", "pose") and fits."""
        if path is None or str(path) == "":
            raise AnimatexError(f"no {what}: upload one first")
        path = Path(path)
        if not path.is_file():
            raise AnimatexError(f"the {what} {path.name} is gone; upload it again")
        suffix = path.suffix.lower()
        allowed = {
            "image": IMAGE_SUFFIXES,
            "video": tuple(s for s in VIDEO_SUFFIXES + IMAGE_SUFFIXES),
            "pose": (POSE_SUFFIX,),
        }
        accepted = [s for kind in kinds for s in allowed[kind]]
        if suffix not in accepted:
            raise AnimatexError(
                f"the {what} {path.name} has the wrong type: upload one of {', '.join(accepted)}"
            )
        size = path.stat().st_size
        if size > self.limits.max_file_bytes:
            raise AnimatexError(
                f"the {what} {path.name} is {size / 2**20:.1f} MB; the app takes files up to "
                f"{self.limits.max_file_mb:g} MB"
            )
        if suffix in IMAGE_SUFFIXES or suffix == ".gif":
            self._check_picture(path, what)
        elif suffix in VIDEO_SUFFIXES:
            self._check_video(path, what)
        return path

    def _check_picture(self, path: Path, what: str) -> None:
        from PIL import Image

        try:
            with Image.open(path) as image:
                width, height = image.size
        except Exception as error:  # PIL raises several types for a corrupt or foreign file
            raise AnimatexError(
                f"the {what} {path.name} is not a picture that can be read ({error})"
            ) from error
        limit = self.limits.max_image_pixels if what.startswith("reference") else self.limits.max_video_pixels
        if width * height > limit:
            raise AnimatexError(
                f"the {what} {path.name} is {width}x{height}; the app takes up to {limit / 1e6:.1f} megapixels: "
                "scale it down first"
            )

    def _check_video(self, path: Path, what: str) -> None:
        import av

        try:
            with av.open(str(path)) as container:
                stream = container.streams.video[0]
                width, height = stream.codec_context.width, stream.codec_context.height
        except Exception as error:  # av raises many types for a file that is no video
            raise AnimatexError(
                f"the {what} {path.name} is not a video that can be read; upload an mp4, webm, mov or gif "
                f"(or a pose .npz)"
            ) from error
        if width * height > self.limits.max_video_pixels:
            raise AnimatexError(
                f"the {what} {path.name} is {width}x{height}; the app takes videos up to "
                f"{self.limits.max_video_pixels / 1e6:.1f} megapixels a frame: scale it down first"
            )

    def _cached(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """`compute()`, remembered for `key` with its notes (small LRU): the preview's detections serve the run."""
        with self._lock:
            entry = self._cache.get(key)
            if entry is not None:
                self._cache.move_to_end(key)
        if entry is None:
            with collect_notes() as notes:
                value = compute()
            entry = (value, notes)
            with self._lock:
                self._cache[key] = entry
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        value, notes = entry
        for note in notes:
            _note(note)
        return value

    def load_reference(
        self, reference: str | Path | None, reference_pose: str | Path | None = None
    ) -> tuple[np.ndarray, PoseSequence | None]:
        """The reference picture and its pose: the uploaded pose file, else detected (None when no body is found)."""
        path = self.check_upload(reference, "reference picture", ("image",))
        image = read_image(path)
        if reference_pose:
            pose_path = self.check_upload(reference_pose, "reference pose file", ("pose",))
            pose = PoseSequence.load(pose_path)
            if len(pose) != 1:
                raise AnimatexError(
                    f"the reference pose file {pose_path.name} has {len(pose)} frames; it must hold one"
                )
            return image, pose
        key = ("reference", *_file_key(path), self.backend)
        pose = self._cached(
            key, lambda: detect_reference_pose(image, self.backend, self.dwpose_dir, name=path.name)
        )
        return image, pose

    def load_driving(
        self, driving: str | Path | None, driving_poses: str | Path | None, max_frames: int
    ) -> tuple[np.ndarray | None, PoseSequence]:
        """The driving video (None for a pose file) and its poses: the uploaded pose file, else detected."""
        if not 1 <= max_frames <= self.limits.max_frames:
            raise AnimatexError(f"frames must be between 1 and {self.limits.max_frames}, got {max_frames}")
        path = self.check_upload(driving, "driving video", ("video", "pose"))
        if driving_poses:
            poses_path = self.check_upload(driving_poses, "driving pose file", ("pose",))
            poses = read_driving(poses_path, max_frames=max_frames)[1]
            frames = (
                None if path.suffix.lower() == POSE_SUFFIX else read_video(path, max_frames=max_frames)[0]
            )
            if frames is not None and len(frames) != len(poses):
                raise AnimatexError(
                    f"the driving video {path.name} has {len(frames)} frames but the pose file "
                    f"{poses_path.name} has {len(poses)}; upload the poses of this video"
                )
            return frames, poses
        key = ("driving", *_file_key(path), max_frames, self.backend)
        return self._cached(
            key,
            lambda: read_driving(path, max_frames, self.backend, self.dwpose_dir, progress=False),
        )

    def output_size(self, size: str, reference: np.ndarray) -> tuple[int, int]:
        """(width, height) the pipeline will render: `size` ("WxH"; blank: the model's default for the reference)."""
        from animatex.pipelines.inputs import FramesInfo

        width, height = parse_size(size) if size.strip() else (None, None)
        info = FramesInfo(1, reference.shape[0], reference.shape[1])
        height, width = self.pipe.fit_size(height, width, info)
        return width, height

    def num_frames(self, requested: int, poses: PoseSequence) -> int:
        """Frames that will be generated: `requested`, at most what the driving has, rounded down to 4k+1."""
        if requested > len(poses):
            _note(
                f"the driving motion has {len(poses)} frames, fewer than the {requested} asked for: using them all"
            )
        return self.pipe.fit_num_frames(min(requested, len(poses)), len(poses))

    # ---- views -------------------------------------------------------------------------------------------
    def reference_view(self, reference: str | Path | None, reference_pose: str | Path | None = None) -> Path:
        """The reference picture with its skeleton drawn over it (PNG under previews/)."""
        image, pose = self.load_reference(reference, reference_pose)
        zoom = _zoom(image.shape[1], image.shape[0])
        # Nearest-neighbour: a small picture keeps its crisp pixels.
        view = image.repeat(zoom, axis=0).repeat(zoom, axis=1)
        if pose is not None:
            view = draw_pose(pose, view.shape[1], view.shape[0], background=view)
        return write_image(self._new_file("previews", "reference.png"), view)

    def pose_preview(self, inputs: Inputs) -> Path:
        """driving + its skeleton | the skeleton retargeted onto the reference, side by side (mp4 under previews/).

        Cheap: no diffusion. It shows the frames, size and retargeting the Animate run will use.
        """
        image, pose = self.load_reference(inputs.reference, inputs.reference_pose)
        video, poses = self.load_driving(inputs.driving, inputs.driving_poses, inputs.frames)
        width, height = self.output_size(inputs.size, image)
        count = self.num_frames(inputs.frames, poses)
        poses = poses[:count]
        aligned, mode = retarget_poses(poses, pose, inputs.align)
        zoom = _zoom(width, height)
        canvas_w, canvas_h = width * zoom, height * zoom
        driving_bg = None if video is None else resize_frames(video[:count], canvas_w, canvas_h)
        reference_bg = resize_frames(image, canvas_w, canvas_h)
        # The reference is dimmed so the skeleton on it stands out.
        reference_bg = np.broadcast_to(reference_bg // 2, (count, canvas_h, canvas_w, 3)).copy()
        driving_label = "driving pose (file)" if video is None else "driving + its pose"
        grid = make_grid(
            [
                (driving_label, draw_pose_video(poses, canvas_w, canvas_h, background=driving_bg)),
                (f"on the reference (align {mode})", draw_pose_video(aligned, canvas_w, canvas_h, background=reference_bg)),
            ]
        )  # fmt: skip
        return write_video(self._new_file("previews", "poses.mp4"), grid, poses.fps)

    # ---- the run -----------------------------------------------------------------------------------------
    def animate(
        self,
        inputs: Inputs,
        *,
        prompt: str = "",
        background: str = "as written",
        steps: int | None = None,
        guidance: float | None = None,
        text_guidance: float | None = None,
        seed: int = 0,
        window_strategy: str | None = None,
        cache: str | None = None,
        stage: Callable[[str], None] | None = None,
    ) -> Result:
        """Animate the reference with the driving motion; writes result.mp4, grid.mp4, poses.npz, settings.json.

        `stage(description)` is told what is happening before each slow part; the sampler shows a tqdm bar.
        `window_strategy` ("chain", "context", "none"; None: the model's) cuts a long driving video into the
        model's windows; `cache` ("none" or e.g. "fbc") is the step cache of `animatex animate --cache`.
        """
        stage = stage or (lambda _: None)
        full_prompt = compose_prompt(prompt, background)
        if int(seed) != seed or seed < 0:
            raise AnimatexError(f"the seed must be a non-negative integer, got {seed}")
        with collect_notes() as notes:
            stage("reading the reference and its pose")
            image, pose = self.load_reference(inputs.reference, inputs.reference_pose)
            stage("reading the driving motion")
            video, poses = self.load_driving(inputs.driving, inputs.driving_poses, inputs.frames)
            count = self.num_frames(inputs.frames, poses)
            stage("animating")
            animation = animate(
                self.pipe, image, poses, driving=video, reference_pose=pose, prompt=full_prompt,
                align=inputs.align if pose is not None else "none", size=self.output_size(inputs.size, image),
                num_frames=count, num_inference_steps=steps, guidance_scale=guidance,
                text_guidance_scale=text_guidance, seed=int(seed), progress=True, cache=cache,
                windows=WindowSettings(strategy=window_strategy) if window_strategy else None,
            )  # fmt: skip
            stage("writing the videos")
            folder = self._new_folder("runs")
            video_path = write_video(folder / "result.mp4", animation.frames, animation.fps)
            grid_path = write_video(folder / "grid.mp4", animation_grid(animation), animation.fps)
            poses_path = animation.poses.save(folder / "poses.npz")
        settings = {
            "prompt": full_prompt,
            "align": animation.align,
            "size": f"{animation.frames.shape[2]}x{animation.frames.shape[1]}",
            "frames": len(animation.frames),
            "steps": steps,
            "guidance": guidance,
            "text_guidance": text_guidance,
            "seed": int(seed),
            "window_strategy": window_strategy or "the model's",
            "cache": cache,
            "memory": self.memory,
            "notes": notes,
        }
        settings_path = write_text(folder / "settings.json", json.dumps(settings, indent=2) + "\n")
        return Result(
            folder,
            video_path,
            grid_path,
            poses_path,
            settings_path,
            full_prompt,
            settings["size"],
            len(animation.frames),
            notes,
        )

    # ---- files -------------------------------------------------------------------------------------------
    def _new_folder(self, kind: str) -> Path:
        """A fresh folder under out_dir/kind: time-stamped plus a random part, so nothing is ever reused."""
        folder = self.out_dir / kind / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
        folder.mkdir(parents=True)
        return folder

    def _new_file(self, kind: str, name: str) -> Path:
        folder = self.out_dir / kind
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{Path(name).stem}-{uuid.uuid4().hex[:12]}{Path(name).suffix}"


# ---- bundled examples -------------------------------------------------------------------------------------
@dataclass
class Example:
    """A bundled case: its files (in an A2Bench-Synth clip folder) and what to show it as."""

    label: str
    reference: Path
    reference_pose: Path
    driving: Path
    driving_poses: Path
    prompt: str


def ensure_examples(out_dir: str | Path) -> list[Example]:
    """The bundled A2Bench-Synth cases under out_dir/examples, generated (deterministically, ~1 s) if missing."""
    from animatex.data.dataset import load_clip
    from animatex.data.generate import clip_name, generate

    examples = []
    for split, seed in EXAMPLE_CASES:
        root = Path(out_dir) / "examples" / f"{split}_s{seed}"
        folder = root / "clips" / clip_name(split, "test", seed, 0)
        if not (folder / "caption.txt").is_file():  # missing or cut short: the app owns this folder
            (folder,) = generate(root, split, 1, seed, "test", EXAMPLE_SIZE, EXAMPLE_FRAMES, overwrite=True)
        caption = load_clip(folder).caption
        examples.append(
            Example(
                label=subject_of(caption),
                reference=folder / "reference.png",
                reference_pose=folder / "reference_pose.npz",
                driving=folder / "driving.mp4",
                driving_poses=folder / "poses.npz",
                prompt=caption,
            )
        )
    return examples
