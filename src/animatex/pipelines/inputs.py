"""Validation and conversion of the pipeline's picture, video and keypoint inputs.

`check_*` functions validate without copying pixels and raise `ValueError` naming the argument;
`*_to_tensor` functions convert input that already passed its check. Canonical forms: an image is a float
tensor (3, H, W) and a video a float tensor (F, 3, H, W), both in [0, 1]; keypoints are (F, 18, 2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import PIL.Image
import torch

from animatex.pose.sequence import PoseSequence

NUM_BODY_KEYPOINTS = 18

ImageInput = PIL.Image.Image | np.ndarray | torch.Tensor
VideoInput = list[PIL.Image.Image] | list[np.ndarray] | np.ndarray | torch.Tensor
KeypointsInput = np.ndarray | torch.Tensor | PoseSequence
PoseVideoInput = VideoInput | PoseSequence  # rendered skeleton frames, or the poses to draw
PoseImageInput = ImageInput | PoseSequence  # a rendered skeleton picture, or a one-frame pose to draw

IMAGE_FORMS = "a PIL image, a uint8 array (H, W, 3), or a tensor (3, H, W) in [0, 1]"
VIDEO_FORMS = (
    "a list of PIL images, a uint8 array (F, H, W, 3), a tensor (F, 3, H, W) in [0, 1], "
    "or a tensor (1, 3, F, H, W) in [0, 1]"
)


@dataclass(frozen=True)
class FramesInfo:
    """Frame count and pixel size of a validated image or video."""

    num_frames: int
    height: int
    width: int


def _check_values(values: np.ndarray | torch.Tensor, name: str) -> None:
    """uint8, or floating point with every value in [0, 1]."""
    if values.dtype in (np.uint8, torch.uint8):
        return
    floating = (
        values.is_floating_point()
        if isinstance(values, torch.Tensor)
        else np.issubdtype(values.dtype, np.floating)
    )
    if not floating:
        raise ValueError(
            f"`{name}` must be uint8 (0..255) or floating point in [0, 1], got dtype {values.dtype}"
        )
    if values.numel() if isinstance(values, torch.Tensor) else values.size:
        low, high = float(values.min()), float(values.max())
        # `not (a <= b)` also catches NaN.
        if not (low >= 0.0 and high <= 1.0):
            raise ValueError(
                f"`{name}` holds floating point values in [{low:.3g}, {high:.3g}]; expected [0, 1] "
                "(scale 0..255 pictures by 1/255, or pass uint8)"
            )


def _check_pil(image: PIL.Image.Image, name: str) -> tuple[int, int]:
    if image.width < 1 or image.height < 1:
        raise ValueError(f"`{name}` is an empty picture ({image.width}x{image.height})")
    return image.height, image.width


def check_image(image: object, name: str) -> FramesInfo:
    """Validate one picture: PIL, uint8/float array (H, W, 3), or tensor (3, H, W) / (1, 3, H, W)."""
    if isinstance(image, PIL.Image.Image):
        return FramesInfo(1, *_check_pil(image, name))
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"`{name}` as an array must have shape (H, W, 3), got {image.shape}")
        _check_values(image, name)
        return FramesInfo(1, image.shape[0], image.shape[1])
    if isinstance(image, torch.Tensor):
        shape = tuple(image.shape)
        if not (image.ndim == 3 or (image.ndim == 4 and shape[0] == 1)) or shape[-3] != 3:
            raise ValueError(f"`{name}` as a tensor must have shape (3, H, W) or (1, 3, H, W), got {shape}")
        _check_values(image, name)
        return FramesInfo(1, shape[-2], shape[-1])
    raise ValueError(f"`{name}` must be {IMAGE_FORMS}; got {type(image).__name__}")


def check_video(video: object, name: str) -> FramesInfo:
    """Validate a video in one of `VIDEO_FORMS`; returns its frame count and size."""
    if isinstance(video, (list, tuple)):
        if len(video) == 0:
            raise ValueError(f"`{name}` is empty; pass at least one frame")
        if any(isinstance(frame, torch.Tensor) for frame in video):
            raise ValueError(f"`{name}` as a list must hold PIL images or (H, W, 3) arrays, not tensors")
        infos = [check_image(frame, f"{name}[{i}]") for i, frame in enumerate(video)]
        sizes = {(info.height, info.width) for info in infos}
        if len(sizes) != 1:
            raise ValueError(
                f"all frames of `{name}` must have the same size, got (H, W) sizes {sorted(sizes)}"
            )
        ((height, width),) = sizes
        return FramesInfo(len(video), height, width)
    if isinstance(video, np.ndarray):
        if video.ndim != 4 or video.shape[3] != 3:
            raise ValueError(f"`{name}` as an array must have shape (F, H, W, 3), got {video.shape}")
        frames, height, width = video.shape[:3]
    elif isinstance(video, torch.Tensor):
        if video.ndim == 4 and video.shape[1] == 3:
            frames, _, height, width = video.shape
        elif video.ndim == 5 and video.shape[0] == 1 and video.shape[1] == 3:
            _, _, frames, height, width = video.shape
        else:
            raise ValueError(
                f"`{name}` as a tensor must have shape (F, 3, H, W) or (1, 3, F, H, W), got {tuple(video.shape)}"
            )
    else:
        raise ValueError(f"`{name}` must be {VIDEO_FORMS}; got {type(video).__name__}")
    if frames == 0:
        raise ValueError(f"`{name}` is empty; pass at least one frame")
    if height == 0 or width == 0:
        raise ValueError(f"`{name}` has empty frames ({height}x{width})")
    _check_values(video, name)
    return FramesInfo(int(frames), int(height), int(width))


def check_pose_video(poses: object, name: str) -> int:
    """Validate a rendered pose video or a `PoseSequence`; returns the frame count."""
    if isinstance(poses, PoseSequence):
        if len(poses) == 0:
            raise ValueError(f"`{name}` is an empty PoseSequence; pass at least one frame")
        return len(poses)
    return check_video(poses, name).num_frames


def check_pose_image(pose: object, name: str) -> None:
    """Validate a rendered pose picture or a one-frame `PoseSequence`."""
    if isinstance(pose, PoseSequence):
        if len(pose) != 1:
            raise ValueError(f"`{name}` as a PoseSequence must hold one frame, got {len(pose)}")
        return
    check_image(pose, name)


def pose_video_to_tensor(poses: PoseVideoInput, height: int, width: int) -> torch.Tensor:
    """A checked pose video as a float tensor (F, 3, H, W) in [0, 1]; poses are drawn at height x width, rendered
    frames are returned at their own size."""
    if isinstance(poses, PoseSequence):
        from animatex.pose.draw import draw_pose_video

        return video_to_tensor(draw_pose_video(poses, width, height))
    return video_to_tensor(poses)


def check_keypoints(keypoints: object, name: str) -> int:
    """Validate body keypoints (F, 18, 2) in [0, 1] with -1 for invisible points; returns F."""
    if isinstance(keypoints, PoseSequence):
        return len(keypoints)
    if not isinstance(keypoints, (np.ndarray, torch.Tensor)):
        raise ValueError(
            f"`{name}` must be a PoseSequence, or an array/tensor (F, {NUM_BODY_KEYPOINTS}, 2); "
            f"got {type(keypoints).__name__}"
        )
    shape = tuple(keypoints.shape)
    if len(shape) != 3 or shape[1:] != (NUM_BODY_KEYPOINTS, 2) or shape[0] == 0:
        raise ValueError(f"`{name}` must have shape (F, {NUM_BODY_KEYPOINTS}, 2) with F >= 1, got {shape}")
    values = torch.as_tensor(keypoints)
    if not values.is_floating_point():
        raise ValueError(
            f"`{name}` must be floating point (normalised coordinates), got dtype {values.dtype}"
        )
    valid = ((values >= 0) & (values <= 1)) | (values == -1)
    if not bool(valid.all()):
        bad = values[~valid][0].item()
        raise ValueError(
            f"`{name}` coordinates must be normalised to [0, 1] (x / width, y / height), or -1 for an "
            f"invisible point; found {bad:.4g}"
        )
    return shape[0]


def _array_to_float(values: np.ndarray | torch.Tensor) -> torch.Tensor:
    if isinstance(values, np.ndarray):
        # torch cannot wrap read-only arrays (e.g. `np.asarray(pil_image)`); copy those.
        values = np.ascontiguousarray(values) if values.flags.writeable else np.array(values)
        tensor = torch.from_numpy(values)
    else:
        tensor = values
    if tensor.dtype == torch.uint8:
        return tensor.float() / 255.0
    return tensor.float()


def image_to_tensor(image: ImageInput) -> torch.Tensor:
    """A checked picture as a float tensor (3, H, W) in [0, 1]."""
    if isinstance(image, PIL.Image.Image):
        return _array_to_float(np.asarray(image.convert("RGB"))).permute(2, 0, 1)
    if isinstance(image, np.ndarray):
        return _array_to_float(image).permute(2, 0, 1)
    return _array_to_float(image.reshape(image.shape[-3:]))


def video_to_tensor(video: VideoInput) -> torch.Tensor:
    """A checked video as a float tensor (F, 3, H, W) in [0, 1]."""
    if isinstance(video, (list, tuple)):
        return torch.stack([image_to_tensor(frame) for frame in video])
    if isinstance(video, np.ndarray):
        return _array_to_float(video).permute(0, 3, 1, 2)
    if video.ndim == 5:
        return _array_to_float(video[0].transpose(0, 1))
    return _array_to_float(video)


def keypoints_to_tensor(keypoints: KeypointsInput) -> torch.Tensor:
    """Checked keypoints as a float tensor (F, 18, 2)."""
    if isinstance(keypoints, PoseSequence):
        body = torch.from_numpy(keypoints.body_normalized())
        # Detections may sit a little outside the frame; the IPI expects [0, 1] for every visible point.
        visible = body != -1
        return torch.where(visible, body.clamp(0.0, 1.0), body)
    return torch.as_tensor(keypoints).float()
