"""Pure pre/post-processing of the DWPose backend, each checked against answers worked out by hand."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from animatex.errors import AnimatexError
from animatex.pose.dwpose import (
    DWPoseDetector,
    box_to_center_scale,
    crop_matrix,
    crop_person,
    crop_to_image,
    decode_simcc,
    decode_yolox,
    letterbox,
    nms,
    normalize_crop,
    select_persons,
    wholebody_to_openpose,
)

# OpenPose-18 joint -> COCO-17 index (None: the neck, which COCO lacks), from the two published layouts.
OPENPOSE_FROM_COCO = [0, None, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3]


def _foreground_extent(image: np.ndarray, threshold: int = 127) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(image.max(axis=-1) > threshold)
    return xs.min(), ys.min(), xs.max() + 1, ys.max() + 1


# ---- letterbox --------------------------------------------------------------------------------------
def test_letterbox_wide_image_fills_top_and_pads_bottom_with_114():
    image = np.full((100, 200, 3), (10, 20, 30), np.uint8)
    canvas, ratio = letterbox(image)
    assert canvas.shape == (640, 640, 3) and canvas.dtype == np.uint8
    assert ratio == pytest.approx(3.2)
    assert (canvas[:320] == (10, 20, 30)).all()
    assert (canvas[320:] == 114).all()


@pytest.mark.parametrize("shape", [(360, 400), (500, 123), (640, 640), (37, 1000)])
def test_letterbox_round_trip_of_a_rectangle(shape):
    h, w = shape
    image = np.zeros((h, w, 3), np.uint8)
    x0, y0, x1, y1 = w // 4, h // 3, w // 4 + max(4, w // 3), h // 3 + max(4, h // 2)
    image[y0:y1, x0:x1] = 255
    canvas, ratio = letterbox(image)
    # Top-left aligned: nothing to the right of / below the resized image but padding.
    assert (canvas[round(h * ratio) + 1 :] == 114).all() and (canvas[:, round(w * ratio) + 1 :] == 114).all()
    padded = canvas.copy()
    padded[padded == 114] = 0
    back = np.array(_foreground_extent(padded)) / ratio
    np.testing.assert_allclose(back, (x0, y0, x1, y1), atol=1.0 + 1.0 / ratio)


# ---- YOLOX decoding, NMS, person selection ---------------------------------------------------------
def _raw_rows(num_classes: int = 80) -> np.ndarray:
    return np.zeros((80 * 80 + 40 * 40 + 20 * 20, 5 + num_classes), np.float32)


def test_decode_yolox_known_cells():
    raw = _raw_rows()
    # stride 32, grid x=3, y=2: rows 6400 + 1600 + 2 * 20 + 3
    raw[8043, :6] = (0.5, 0.25, np.log(2.0), np.log(4.0), 0.5, 0.8)
    # stride 16, grid x=2, y=1
    raw[6400 + 40 + 2, :4] = (0.0, 0.0, 0.0, 0.0)
    boxes, scores = decode_yolox(raw)
    assert boxes.shape == (8400, 4) and scores.shape == (8400, 80)
    np.testing.assert_allclose(boxes[8043], (80, 8, 144, 136), atol=1e-4)
    np.testing.assert_allclose(boxes[6442], (32 - 8, 16 - 8, 32 + 8, 16 + 8), atol=1e-4)
    np.testing.assert_allclose(boxes[0], (-4, -4, 4, 4), atol=1e-4)
    assert scores[8043, 0] == pytest.approx(0.4)
    assert scores[8043, 1:].max() == 0


def test_decode_yolox_rejects_wrong_row_count():
    with pytest.raises(AnimatexError, match="YOLOX"):
        decode_yolox(np.zeros((100, 85), np.float32))


def test_nms_known_answer():
    boxes = np.array([[0, 0, 99, 99], [10, 0, 109, 99], [200, 200, 299, 299], [0, 50, 99, 149]], np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.95], np.float32)
    # box 1 overlaps box 0 at IoU 9000/11000; box 3 overlaps 0 at 1/3 and 1 at 4500/15500.
    assert nms(boxes, scores, 0.45).tolist() == [3, 0, 2]
    assert nms(boxes, scores, 0.9).tolist() == [3, 0, 1, 2]
    assert nms(boxes[:0], scores[:0]).size == 0


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0]) + 1) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]) + 1)
    area = (a[2] - a[0] + 1) * (a[3] - a[1] + 1) + (b[2] - b[0] + 1) * (b[3] - b[1] + 1)
    return inter / (area - inter)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(0.1, 0.9))
def test_nms_properties(seed, threshold):
    rng = np.random.default_rng(seed)
    n = rng.integers(1, 25)
    corners = rng.uniform(0, 200, (n, 2))
    boxes = np.concatenate([corners, corners + rng.uniform(5, 80, (n, 2))], axis=1)
    scores = rng.permutation(n).astype(np.float32) + 1  # distinct scores
    keep = nms(boxes, scores, threshold)
    assert list(scores[keep]) == sorted(scores[keep], reverse=True)
    for i, a in enumerate(keep):
        for b in keep[i + 1 :]:
            assert _iou(boxes[a], boxes[b]) <= threshold
    for dropped in set(range(n)) - set(keep.tolist()):
        assert any(scores[k] > scores[dropped] and _iou(boxes[k], boxes[dropped]) > threshold for k in keep)


def test_select_persons_keeps_confident_people_in_image_pixels():
    raw = _raw_rows()
    person = (0.5, 0.5, np.log(2.0), np.log(4.0))  # a 64x128 box centred at (cell + 0.5) * 32
    raw[8043, :5], raw[8043, 5] = (*person, 0.9), 0.9  # person, score 0.81
    raw[8044, :5], raw[8044, 5] = (-0.6, 0.5, np.log(2.0), np.log(4.0), 0.8), 0.8  # 3 px left: duplicate
    raw[8100, :5], raw[8100, 5 + 1] = (*person, 0.99), 0.99  # a bicycle
    raw[8200, :5], raw[8200, 5] = (*person, 0.5), 0.5  # a person at 0.25, under the threshold
    raw[0, :5], raw[0, 5] = (0.5, 0.5, np.log(2.0), np.log(2.0), 0.7), 0.7  # small, stride 8, 0.49
    boxes = select_persons(raw, ratio=2.0)
    # cell (3, 2) at stride 32 -> centre (112, 80), 64x128 in the canvas -> halved in the image;
    # cell (0, 0) at stride 8 -> centre (4, 4), 16x16 -> halved.
    np.testing.assert_allclose(boxes, [[40, 8, 72, 72], [-2, -2, 6, 6]], atol=1e-4)


# ---- top-down crop and SimCC -----------------------------------------------------------------------
def test_box_to_center_scale_pads_and_fixes_the_aspect_ratio():
    centers, scales = box_to_center_scale(np.array([[10, 20, 110, 220], [0, 0, 300, 100]]))
    np.testing.assert_allclose(centers, [[60, 120], [150, 50]])
    # tall: 125 x 250 widened to 187.5 x 250; wide: 375 x 125 heightened to 375 x 500
    np.testing.assert_allclose(scales, [[187.5, 250], [375, 500]])


def test_crop_matrix_maps_the_window_onto_the_crop_and_crop_to_image_inverts_it():
    center, scale = np.array([100.0, 150.0]), np.array([225.0, 300.0])
    matrix = crop_matrix(center, scale)
    corners = np.array([[100 - 112.5, 0], [100 + 112.5, 300], [100, 150]])
    mapped = corners @ matrix[:, :2].T + matrix[:, 2]
    np.testing.assert_allclose(mapped, [[0, 0], [288, 384], [144, 192]], atol=1e-9)
    points = np.random.default_rng(0).uniform(0, 384, (50, 2))
    image_points = crop_to_image(points, center, scale)
    np.testing.assert_allclose(image_points @ matrix[:, :2].T + matrix[:, 2], points, atol=1e-9)


def test_crop_person_puts_a_marker_where_the_matrix_says():
    image = np.zeros((300, 400, 3), np.uint8)
    image[180:182, 250:252] = 255  # 2x2 marker centred at (250.5, 180.5)
    center, scale = np.array([220.0, 160.0]), np.array([180.0, 240.0])
    crop = crop_person(image, center, scale)
    assert crop.shape == (384, 288, 3)
    expected = crop_matrix(center, scale) @ np.array([250.5, 180.5, 1.0])
    ys, xs = np.nonzero(crop[..., 0] == crop[..., 0].max())
    np.testing.assert_allclose([xs.mean(), ys.mean()], expected, atol=1.0)


def test_normalize_crop_uses_imagenet_rgb_statistics():
    crop = np.zeros((4, 3, 3), np.uint8)
    crop[1, 2] = (255, 0, 0)
    out = normalize_crop(crop)
    assert out.shape == (3, 4, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out[:, 1, 2], [(255 - 123.675) / 58.395, -116.28 / 57.12, -103.53 / 57.375])


def test_decode_simcc_known_peaks():
    simcc_x = np.zeros((2, 3, 576), np.float32)
    simcc_y = np.zeros((2, 3, 768), np.float32)
    for k, (bx, by, vx, vy) in enumerate([(10, 7, 0.9, 0.8), (0, 767, 0.2, 0.5), (575, 300, 1.3, 0.4)]):
        simcc_x[:, k, bx], simcc_y[:, k, by] = vx, vy
    simcc_x[1, 0, 400] = 2.0  # second person: keypoint 0 moves
    points, scores = decode_simcc(simcc_x, simcc_y)
    np.testing.assert_allclose(points[0], [[5, 3.5], [0, 383.5], [287.5, 150]])
    np.testing.assert_allclose(points[1, 0], [200, 3.5])
    np.testing.assert_allclose(scores, [[0.8, 0.2, 0.4], [0.8, 0.2, 0.4]], atol=1e-7)


# ---- 133 -> 134 ------------------------------------------------------------------------------------
def test_wholebody_to_openpose_layout():
    kp = np.zeros((2, 133, 3), np.float32)
    kp[..., 0] = np.arange(133)
    kp[..., 1] = 1000 + np.arange(133)
    kp[..., 2] = 0.9
    kp[1, 5, 2] = 0.3  # second person: left shoulder at the threshold -> no neck
    out = wholebody_to_openpose(kp)
    assert out.shape == (2, 134, 3) and out.dtype == np.float32
    for joint, coco in enumerate(OPENPOSE_FROM_COCO):
        if coco is not None:
            np.testing.assert_array_equal(out[:, joint], kp[:, coco])
    np.testing.assert_allclose(out[:, 1, :2], [[5.5, 1005.5], [5.5, 1005.5]])
    assert out[0, 1, 2] == 1.0 and out[1, 1, 2] == 0.0
    np.testing.assert_array_equal(out[:, 18:], kp[:, 17:])  # feet, face, left hand, right hand in order
    with pytest.raises(AnimatexError, match="133"):
        wholebody_to_openpose(np.zeros((1, 134, 3)))


# ---- input validation ------------------------------------------------------------------------------
def test_missing_folder_and_files_are_named(tmp_path):
    with pytest.raises(AnimatexError, match="does not exist"):
        DWPoseDetector(tmp_path / "nowhere")
    with pytest.raises(AnimatexError, match="yolox_l.onnx is missing"):
        DWPoseDetector(tmp_path)
    (tmp_path / "yolox_l.onnx").write_bytes(b"")
    with pytest.raises(AnimatexError, match="dw-ll_ucoco_384.onnx is missing"):
        DWPoseDetector(tmp_path)


def test_unreadable_model_file_is_reported(tmp_path):
    for name in ("yolox_l.onnx", "dw-ll_ucoco_384.onnx"):
        (tmp_path / name).write_bytes(b"not an onnx model")
    with pytest.raises(AnimatexError, match="could not load .*yolox_l.onnx"):
        DWPoseDetector(tmp_path, providers=["CPUExecutionProvider"])
