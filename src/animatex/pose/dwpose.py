"""DWPose whole-body keypoints with onnxruntime: YOLOX-L person boxes, then RTMPose-L SimCC per box.

Weights: the two ONNX files of the DWPose release (IDEA-Research/DWPose; the Hugging Face Hub repository
`yzd-v/DWPose` hosts them under these names). Put both in one folder and pass it as `model_dir`:

    model_dir/
        yolox_l.onnx           person detector; input (1, 3, 640, 640), raw YOLOX output (1, 8400, 85)
        dw-ll_ucoco_384.onnx   whole-body RTMPose; input (1, 3, 384, 288),
                               outputs simcc_x (1, 133, 576) and simcc_y (1, 133, 768)

Pipeline (the DWPose annotator's conventions, re-implemented as pure numpy functions):
  1. `letterbox` the image to 640x640 (top-left aligned, padded with 114, BGR, 0..255, no normalisation).
  2. `decode_yolox` the grid outputs (strides 8, 16, 32), keep class 0 ("person"), `nms` at IoU 0.45.
  3. Per box: `box_to_center_scale` (x1.25 padding, widened to 288:384), `crop_person` with warpAffine,
     `normalize_crop` with the ImageNet mean/std on RGB (how the pose model was trained).
  4. `decode_simcc` (argmax / split ratio 2, confidence = the smaller of the two maxima), `crop_to_image`.
  5. `wholebody_to_openpose`: 133 COCO-WholeBody points -> the 134-point layout of `animatex.pose.skeleton`,
     the neck being the mean of the shoulders. Confidences are not thresholded here (consumers apply 0.3),
     only clipped to [0, 1].

Sizes are written (width, height) throughout, as OpenCV takes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from animatex.errors import AnimatexError
from animatex.pose.skeleton import BODY_INDEX, CONFIDENCE_THRESHOLD, NUM_BODY, NUM_KEYPOINTS

DETECTOR_FILE = "yolox_l.onnx"
POSE_FILE = "dw-ll_ucoco_384.onnx"

DETECTOR_SIZE = (640, 640)
YOLOX_STRIDES = (8, 16, 32)
LETTERBOX_PAD_VALUE = 114
PERSON_CLASS = 0
SCORE_THRESHOLD = 0.3
NMS_THRESHOLD = 0.45

POSE_SIZE = (288, 384)
BOX_PADDING = 1.25
SIMCC_SPLIT_RATIO = 2.0
IMAGENET_MEAN = np.array([123.675, 116.28, 103.53], np.float32)  # RGB
IMAGENET_STD = np.array([58.395, 57.12, 57.375], np.float32)

NUM_WHOLEBODY = 133
# COCO-17 body order, the first 17 of the 133 COCO-WholeBody points.
COCO_BODY_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip


# ---- detector: pre- and post-processing -------------------------------------------------------------
def letterbox(
    image: np.ndarray, size: tuple[int, int] = DETECTOR_SIZE, pad_value: int = LETTERBOX_PAD_VALUE
) -> tuple[np.ndarray, float]:
    """Resize keeping the aspect ratio into the top-left of a `size` canvas; return it and the ratio."""
    width, height = size
    h, w = image.shape[:2]
    ratio = min(height / h, width / w)
    new_w, new_h = max(1, int(w * ratio)), max(1, int(h * ratio))
    canvas = np.full((height, width, *image.shape[2:]), pad_value, dtype=np.uint8)
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    canvas[:new_h, :new_w] = resized.reshape(new_h, new_w, *image.shape[2:])
    return canvas, ratio


def decode_yolox(
    raw: np.ndarray, size: tuple[int, int] = DETECTOR_SIZE, strides: Sequence[int] = YOLOX_STRIDES
) -> tuple[np.ndarray, np.ndarray]:
    """Raw YOLOX rows (A, 5 + C) -> boxes (A, 4) as x1, y1, x2, y2 in input pixels, scores (A, C).

    Each row is (dx, dy, log w, log h) in units of its stride relative to its grid cell, then the
    objectness and the class probabilities (already sigmoid-ed by the exported model). Rows run over the
    strides in order, each grid row-major (x fastest).
    """
    width, height = size
    grids, row_strides = [], []
    for stride in strides:
        xs, ys = np.meshgrid(np.arange(width // stride), np.arange(height // stride))
        grids.append(np.stack([xs, ys], axis=-1).reshape(-1, 2))
        row_strides.append(np.full(xs.size, stride))
    grid = np.concatenate(grids).astype(np.float32)
    stride = np.concatenate(row_strides).astype(np.float32)[:, None]
    if raw.ndim != 2 or raw.shape[0] != len(grid) or raw.shape[1] < 6:
        raise AnimatexError(
            f"the person detector returned shape {raw.shape}, expected ({len(grid)}, 5 + classes) for a "
            f"{width}x{height} YOLOX input with strides {tuple(strides)}; is {DETECTOR_FILE} the YOLOX-L file?"
        )
    centers = (raw[:, :2] + grid) * stride
    sizes = np.exp(raw[:, 2:4]) * stride
    boxes = np.concatenate([centers - sizes / 2, centers + sizes / 2], axis=1)
    scores = raw[:, 4:5] * raw[:, 5:]
    return boxes.astype(np.float32), scores.astype(np.float32)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float = NMS_THRESHOLD) -> np.ndarray:
    """Greedy non-maximum suppression; indices of the kept boxes, best score first."""
    # Areas count inclusive pixels (+1), as the YOLOX / DWPose numpy NMS does, so the same boxes survive.
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(best)
        inter_w = np.maximum(0.0, np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]) + 1)
        inter_h = np.maximum(0.0, np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]) + 1)
        inter = inter_w * inter_h
        iou = inter / (areas[best] + areas[rest] - inter)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def select_persons(
    raw: np.ndarray,
    ratio: float,
    size: tuple[int, int] = DETECTOR_SIZE,
    score_threshold: float = SCORE_THRESHOLD,
    iou_threshold: float = NMS_THRESHOLD,
) -> np.ndarray:
    """Raw YOLOX rows of one image -> person boxes (P, 4) in original image pixels, best first."""
    boxes, scores = decode_yolox(raw, size)
    person = scores[:, PERSON_CLASS]
    # DWPose runs class-aware NMS at score 0.1 and then keeps persons above 0.3; a box below 0.3 can
    # only suppress boxes scored lower still, so filtering at 0.3 first keeps exactly the same boxes.
    candidates = np.flatnonzero(person > score_threshold)
    keep = candidates[nms(boxes[candidates], person[candidates], iou_threshold)]
    return (boxes[keep] / ratio).astype(np.float32)


# ---- pose model: pre- and post-processing ----------------------------------------------------------
def box_to_center_scale(
    boxes: np.ndarray, padding: float = BOX_PADDING, aspect_ratio: float = POSE_SIZE[0] / POSE_SIZE[1]
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (P, 4) x1, y1, x2, y2 -> centers (P, 2) and crop sizes (P, 2), padded, widened to w/h ratio."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    centers = (boxes[:, :2] + boxes[:, 2:]) / 2
    w = (boxes[:, 2] - boxes[:, 0]) * padding
    h = (boxes[:, 3] - boxes[:, 1]) * padding
    wide = w > h * aspect_ratio
    scales = np.stack([np.where(wide, w, h * aspect_ratio), np.where(wide, w / aspect_ratio, h)], axis=1)
    return centers, scales


def crop_matrix(center: np.ndarray, scale: np.ndarray, size: tuple[int, int] = POSE_SIZE) -> np.ndarray:
    """The 2x3 affine matrix taking the `scale`-sized window around `center` onto a `size` image."""
    width, height = size
    s = width / scale[0]  # the window already has the output's aspect ratio, so one factor serves both axes
    return np.array(
        [[s, 0.0, width / 2 - s * center[0]], [0.0, s, height / 2 - s * center[1]]], dtype=np.float64
    )


def crop_person(
    image: np.ndarray, center: np.ndarray, scale: np.ndarray, size: tuple[int, int] = POSE_SIZE
) -> np.ndarray:
    """Bilinear crop of the window (`center`, `scale`) resized to `size`; outside the image is black."""
    return cv2.warpAffine(image, crop_matrix(center, scale, size), size, flags=cv2.INTER_LINEAR)


def normalize_crop(crop: np.ndarray) -> np.ndarray:
    """RGB uint8 (h, w, 3) -> ImageNet-normalised float32 (3, h, w)."""
    return ((crop.astype(np.float32) - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1)


def decode_simcc(
    simcc_x: np.ndarray, simcc_y: np.ndarray, split_ratio: float = SIMCC_SPLIT_RATIO
) -> tuple[np.ndarray, np.ndarray]:
    """SimCC maps (..., K, Wx), (..., K, Wy) -> points (..., K, 2) in input pixels and scores (..., K)."""
    x = np.argmax(simcc_x, axis=-1).astype(np.float32)
    y = np.argmax(simcc_y, axis=-1).astype(np.float32)
    scores = np.minimum(simcc_x.max(axis=-1), simcc_y.max(axis=-1)).astype(np.float32)
    return np.stack([x, y], axis=-1) / split_ratio, scores


def crop_to_image(
    points: np.ndarray, center: np.ndarray, scale: np.ndarray, size: tuple[int, int] = POSE_SIZE
) -> np.ndarray:
    """Points (..., 2) in crop pixels -> image pixels (the inverse of `crop_matrix`)."""
    return points / np.asarray(size, np.float64) * scale + center - scale / 2


def wholebody_to_openpose(keypoints: np.ndarray) -> np.ndarray:
    """(P, 133, 3) COCO-WholeBody (x, y, confidence) -> (P, 134, 3) in `animatex.pose.skeleton` order.

    The neck is the mean of the shoulders; like DWPose, its confidence is 1 when both shoulders pass the
    detection threshold and 0 otherwise. Feet, face and hands keep their COCO-WholeBody order.
    """
    keypoints = np.asarray(keypoints, dtype=np.float32)
    if keypoints.ndim != 3 or keypoints.shape[1:] != (NUM_WHOLEBODY, 3):
        raise AnimatexError(
            f"whole-body keypoints must have shape (persons, {NUM_WHOLEBODY}, 3), got {keypoints.shape}"
        )
    out = np.zeros((len(keypoints), NUM_KEYPOINTS, 3), np.float32)
    for coco_index, name in enumerate(COCO_BODY_NAMES):
        out[:, BODY_INDEX[name]] = keypoints[:, coco_index]
    left = keypoints[:, COCO_BODY_NAMES.index("left_shoulder")]
    right = keypoints[:, COCO_BODY_NAMES.index("right_shoulder")]
    neck = BODY_INDEX["neck"]
    out[:, neck, :2] = (left[:, :2] + right[:, :2]) / 2
    out[:, neck, 2] = (left[:, 2] > CONFIDENCE_THRESHOLD) & (right[:, 2] > CONFIDENCE_THRESHOLD)
    out[:, NUM_BODY:] = keypoints[:, len(COCO_BODY_NAMES) :]
    return out


# ---- the detector ----------------------------------------------------------------------------------
def _static_size(shape: Sequence[object], default: tuple[int, int]) -> tuple[int, int]:
    """(width, height) from an NCHW input shape when both are fixed integers, else `default`."""
    height, width = shape[2], shape[3]
    if isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0:
        return width, height
    return default


def _load_session(path: Path, providers: Sequence[str]):
    import onnxruntime as ort  # here, not at the top: importing animatex.pose stays light

    try:
        return ort.InferenceSession(str(path), providers=list(providers))
    except Exception as error:  # onnxruntime raises its own exception types for bad files
        raise AnimatexError(
            f"could not load {path} with onnxruntime ({error}); download the file again"
        ) from error


def _default_providers() -> list[str]:
    import onnxruntime as ort

    available = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]


def _check_image(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        kind = image.dtype if isinstance(image, np.ndarray) else type(image).__name__
        raise AnimatexError(f"DWPose takes an RGB uint8 numpy image, got {kind}; convert it with np.uint8")
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] == 0 or image.shape[1] == 0:
        raise AnimatexError(f"DWPose takes an RGB image of shape (height, width, 3), got {image.shape}")
    return image


class DWPoseDetector:
    """Whole-body keypoints of every person in an RGB image, from the two DWPose ONNX files."""

    def __init__(self, model_dir: str | Path, providers: Sequence[str] | None = None) -> None:
        model_dir = Path(model_dir)
        if not model_dir.is_dir():
            raise AnimatexError(
                f"DWPose model folder {model_dir} does not exist; create it and put {DETECTOR_FILE} and "
                f"{POSE_FILE} from the DWPose release (Hugging Face Hub: yzd-v/DWPose) in it"
            )
        for name in (DETECTOR_FILE, POSE_FILE):
            if not (model_dir / name).is_file():
                raise AnimatexError(
                    f"{model_dir / name} is missing; download {name} from the DWPose release "
                    f"(Hugging Face Hub: yzd-v/DWPose) into {model_dir}"
                )
        providers = _default_providers() if providers is None else list(providers)

        self.detector = _load_session(model_dir / DETECTOR_FILE, providers)
        det_input = self.detector.get_inputs()[0]
        self._detector_input = det_input.name
        self.detector_size = _static_size(det_input.shape, DETECTOR_SIZE)

        self.pose = _load_session(model_dir / POSE_FILE, providers)
        pose_input = self.pose.get_inputs()[0]
        self._pose_input = pose_input.name
        self.pose_size = _static_size(pose_input.shape, POSE_SIZE)
        # The released file has a fixed batch of 1; an export with a free batch axis takes all boxes at once.
        self._pose_batch_one = pose_input.shape[0] == 1
        names = [o.name for o in self.pose.get_outputs()]
        if len(names) < 2:
            raise AnimatexError(
                f"{model_dir / POSE_FILE} has outputs {names}; expected simcc_x and simcc_y "
                "(is it the DWPose whole-body RTMPose file?)"
            )
        self._simcc_names = ["simcc_x", "simcc_y"] if {"simcc_x", "simcc_y"} <= set(names) else names[:2]

    def detect_boxes(self, image: np.ndarray) -> np.ndarray:
        """Person boxes (P, 4) as x1, y1, x2, y2 image pixels, best first."""
        image = _check_image(image)
        canvas, ratio = letterbox(np.ascontiguousarray(image[..., ::-1]), self.detector_size)  # RGB -> BGR
        batch = canvas.transpose(2, 0, 1)[None].astype(np.float32)
        raw = self.detector.run(None, {self._detector_input: batch})[0]
        return select_persons(np.asarray(raw)[0], ratio, self.detector_size)

    def _run_pose(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Normalised crops (P, 3, h, w) -> simcc_x (P, 133, 2w), simcc_y (P, 133, 2h), shapes checked."""
        if self._pose_batch_one:
            outputs = [self.pose.run(self._simcc_names, {self._pose_input: crop[None]}) for crop in crops]
            simcc_x = np.concatenate([o[0] for o in outputs])
            simcc_y = np.concatenate([o[1] for o in outputs])
        else:
            simcc_x, simcc_y = self.pose.run(self._simcc_names, {self._pose_input: crops})
        want_x = (len(crops), NUM_WHOLEBODY, round(self.pose_size[0] * SIMCC_SPLIT_RATIO))
        want_y = (len(crops), NUM_WHOLEBODY, round(self.pose_size[1] * SIMCC_SPLIT_RATIO))
        if simcc_x.shape != want_x or simcc_y.shape != want_y:
            raise AnimatexError(
                f"the pose model returned {simcc_x.shape} and {simcc_y.shape}, expected {want_x} and "
                f"{want_y}; is {POSE_FILE} the DWPose whole-body file?"
            )
        return simcc_x, simcc_y

    def estimate(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Keypoints (P, 134, 3) float32 (x, y, confidence in [0, 1]) for the persons in `boxes` (P, 4)."""
        image = _check_image(image)
        boxes = np.asarray(boxes, dtype=np.float64)
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise AnimatexError(f"person boxes must have shape (persons, 4), got {boxes.shape}")
        if len(boxes) == 0:
            return np.zeros((0, NUM_KEYPOINTS, 3), np.float32)

        centers, scales = box_to_center_scale(boxes, aspect_ratio=self.pose_size[0] / self.pose_size[1])
        # The pose model was trained on RGB with RGB means (mmpose `bgr_to_rgb=True`); rtmlib and
        # controlnet_aux feed it BGR instead, the original annotator whatever colour order it was given.
        crops = np.stack(
            [
                normalize_crop(crop_person(image, c, s, self.pose_size))
                for c, s in zip(centers, scales, strict=True)
            ]
        )
        simcc_x, simcc_y = self._run_pose(crops)
        points, scores = decode_simcc(simcc_x, simcc_y)
        points = crop_to_image(points, centers[:, None], scales[:, None], self.pose_size)
        # SimCC maxima are unnormalised and can pass 1; PoseSequence keeps confidences in [0, 1].
        wholebody = np.concatenate([points, np.clip(scores, 0.0, 1.0)[..., None]], axis=-1)
        return wholebody_to_openpose(wholebody)

    def detect(self, image: np.ndarray) -> np.ndarray:
        """Keypoints (P, 134, 3) float32 of every person in an RGB uint8 (H, W, 3) image; P = 0 if none."""
        return self.estimate(image, self.detect_boxes(image))
