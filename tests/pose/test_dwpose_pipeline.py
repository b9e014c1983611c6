"""`DWPoseDetector` end to end on two small ONNX graphs with the real files' names, shapes and dtypes.

The stand-in detector finds the extent of the pixels whose first input channel is above 200 (the blue
"person" rectangle when the pipeline feeds BGR) and writes that box into one YOLOX cell, next to a
duplicate, a bicycle and a weak person. The stand-in pose model undoes the ImageNet normalisation and
turns the red (channel 0) or green (channel 1) column/row maxima of the crop into SimCC maps, so every
keypoint lands on the red or the green marker. Colour order, padding, letterbox ratio, crop and
inverse crop must all be right for the keypoints to come back on the markers.
"""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from animatex.errors import AnimatexError
from animatex.pose.dwpose import DWPoseDetector

OPENPOSE_FROM_COCO = [0, None, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3]
MEAN = np.array([123.675, 116.28, 103.53], np.float32)
STD = np.array([58.395, 57.12, 57.375], np.float32)

# Per whole-body keypoint: which marker it follows and the peak height of its SimCC maps.
CHANNEL = (np.arange(133) // 2) % 2
WEIGHT = np.array([1.0, 0.8, 0.5, 0.0, 1.5], np.float32)[np.arange(133) % 5]

# The test picture: H 360 x W 400, a blue person box x 100..249, y 60..299, 2x2 markers inside it.
RECT = (100, 60, 250, 300)
MARKERS = {0: (130.5, 120.5), 1: (210.5, 250.5)}  # red, green marker centres


def _picture(person: bool = True) -> np.ndarray:
    image = np.zeros((360, 400, 3), np.uint8)
    if person:
        x0, y0, x1, y1 = RECT
        image[y0:y1, x0:x1] = (0, 0, 255)
    image[120:122, 130:132] = (255, 0, 0)
    image[250:252, 210:212] = (0, 255, 0)
    return image


def _const(name: str, value) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(value), name))


def _save(graph: onnx.GraphProto, path) -> None:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _detector_graph(path) -> None:
    """yolox_l.onnx stand-in: images (1, 3, 640, 640) -> output (1, 8400, 85)."""
    n = []
    f32 = np.float32
    n += [_const("c0", np.array([0], np.int64)), _const("c1", np.array([1], np.int64))]
    n += [_const("chan_axis", np.array([1], np.int64)), _const("thr", f32(200.0))]
    n += [helper.make_node("Slice", ["images", "c0", "c1", "chan_axis"], ["first"])]
    n += [helper.make_node("Greater", ["first", "thr"], ["mask_b"])]
    n += [helper.make_node("Cast", ["mask_b"], ["mask"], to=TensorProto.FLOAT)]
    n += [helper.make_node("ReduceMax", ["mask"], ["present"], keepdims=0)]
    n += [_const("ramp", np.arange(640, dtype=f32)[None]), _const("half", f32(0.5))]
    n += [_const("big", f32(1e4)), _const("neg", f32(-1.0)), _const("one", f32(1.0))]
    for name, other in (("x", 2), ("y", 3)):  # x extent: reduce over rows (axis 2); y: over columns
        n += [helper.make_node("ReduceMax", ["mask"], [f"{name}_any"], axes=[1, other], keepdims=0)]
        n += [helper.make_node("Greater", [f"{name}_any", "half"], [f"{name}_on"])]
        n += [helper.make_node("Where", [f"{name}_on", "ramp", "big"], [f"{name}_lo_all"])]
        n += [helper.make_node("Where", [f"{name}_on", "ramp", "neg"], [f"{name}_hi_all"])]
        n += [helper.make_node("ReduceMin", [f"{name}_lo_all"], [f"{name}0"], keepdims=0)]
        n += [helper.make_node("ReduceMax", [f"{name}_hi_all"], [f"{name}_last"], keepdims=0)]
        n += [helper.make_node("Add", [f"{name}_last", "one"], [f"{name}1"])]
        n += [helper.make_node("Add", [f"{name}0", f"{name}1"], [f"{name}_sum"])]
        n += [helper.make_node("Mul", [f"{name}_sum", "half"], [f"{name}_c"])]
        n += [helper.make_node("Sub", [f"{name}1", f"{name}0"], [f"{name}_len"])]
        # At least 1 so that an image without a person gives no log(0) in the unused row.
        n += [helper.make_node("Max", [f"{name}_len", "one"], [f"{name}_size"])]
    n += [_const("shape111", np.array([1, 1, 1], np.int64))]

    def cell_row(tag, stride, gx, gy, shift, obj, cls0):
        """Row for the found box moved right by `shift` px, in the raw layout of cell (gx, gy) at `stride`."""
        nodes = [_const(f"{tag}_s", f32(stride)), _const(f"{tag}_gx", f32(gx)), _const(f"{tag}_gy", f32(gy))]
        nodes += [_const(f"{tag}_shift", f32(shift)), _const(f"{tag}_obj", f32(obj))]
        nodes += [helper.make_node("Add", ["x_c", f"{tag}_shift"], [f"{tag}_xc"])]
        parts = []
        for src, grid in ((f"{tag}_xc", f"{tag}_gx"), ("y_c", f"{tag}_gy")):
            nodes += [helper.make_node("Div", [src, f"{tag}_s"], [f"{src}_{tag}_g"])]
            nodes += [helper.make_node("Sub", [f"{src}_{tag}_g", grid], [f"{src}_{tag}_t"])]
            parts.append(f"{src}_{tag}_t")
        for src in ("x_size", "y_size"):
            nodes += [helper.make_node("Div", [src, f"{tag}_s"], [f"{src}_{tag}_g"])]
            nodes += [helper.make_node("Log", [f"{src}_{tag}_g"], [f"{src}_{tag}_t"])]
            parts.append(f"{src}_{tag}_t")
        nodes += [helper.make_node("Mul", ["present", f"{tag}_obj"], [f"{tag}_o"])]
        parts.append(f"{tag}_o")
        classes = np.zeros((1, 1, 80), f32)
        classes[0, 0, 0] = cls0
        nodes += [_const(f"{tag}_cls", classes)]
        shaped = []
        for p in parts:
            nodes += [helper.make_node("Reshape", [p, "shape111"], [f"{p}_r"])]
            shaped.append(f"{p}_r")
        nodes += [helper.make_node("Concat", [*shaped, f"{tag}_cls"], [f"{tag}_row"], axis=2)]
        return nodes, f"{tag}_row"

    def const_row(tag, values):
        row = np.zeros((1, 1, 85), f32)
        for i, v in values.items():
            row[0, 0, i] = v
        return [_const(f"{tag}_row", row)], f"{tag}_row"

    rows = {
        100: const_row("bike", {2: np.log(10), 3: np.log(10), 4: 0.9, 6: 0.9}),  # class 1, never a person
        6400 + 7 * 40 + 5: cell_row("dup", 16, 5, 7, shift=4.0, obj=0.5, cls0=1.0),  # NMS removes it
        7000: const_row("weak", {2: np.log(10), 3: np.log(10), 4: 0.2, 5: 1.0}),  # score 0.2
        6400 + 1600 + 2 * 20 + 3: cell_row("main", 32, 3, 2, shift=0.0, obj=0.9, cls0=0.95),
    }
    pieces, start = [], 0
    for index in sorted(rows):
        nodes, row = rows[index]
        n += nodes
        if index > start:
            n += [_const(f"zeros{start}", np.zeros((1, index - start, 85), f32))]
            pieces.append(f"zeros{start}")
        pieces.append(row)
        start = index + 1
    n += [_const("zeros_end", np.zeros((1, 8400 - start, 85), f32))]
    n += [helper.make_node("Concat", [*pieces, "zeros_end"], ["output"], axis=1)]
    graph = helper.make_graph(
        n,
        "yolox_standin",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 640, 640])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 8400, 85])],
    )
    _save(graph, path)


def _pose_graph(path, batch) -> None:
    """dw-ll_ucoco_384.onnx stand-in: input (batch, 3, 384, 288) -> simcc_x (., 133, 576), simcc_y (., 133, 768)."""
    n = [
        _const("std", STD.reshape(1, 3, 1, 1)),
        _const("mean", MEAN.reshape(1, 3, 1, 1)),
        _const("k255", np.float32(255.0)),
        _const("channel", CHANNEL.astype(np.int64)),
        _const("weight", WEIGHT.reshape(1, 133, 1)),
        _const("axis3", np.array([3], np.int64)),
        _const("twice", np.array([1, 1, 1, 2], np.int64)),
        helper.make_node("Mul", ["input", "std"], ["scaled"]),
        helper.make_node("Add", ["scaled", "mean"], ["pixels"]),
        helper.make_node("Div", ["pixels", "k255"], ["unit"]),
    ]
    for name, reduce_axis, length in (("simcc_x", 2, 288), ("simcc_y", 3, 384)):
        n += [
            helper.make_node("ReduceMax", ["unit"], [f"{name}_p"], axes=[reduce_axis], keepdims=0),
            helper.make_node("Gather", [f"{name}_p", "channel"], [f"{name}_k"], axis=1),
            helper.make_node("Mul", [f"{name}_k", "weight"], [f"{name}_w"]),
            helper.make_node("Unsqueeze", [f"{name}_w", "axis3"], [f"{name}_u"]),
            helper.make_node("Expand", [f"{name}_u", "twice"], [f"{name}_e"]),
            _const(f"{name}_shape", np.array([0, 133, 2 * length], np.int64)),
            helper.make_node("Reshape", [f"{name}_e", f"{name}_shape"], [name]),
        ]
    graph = helper.make_graph(
        n,
        "rtmpose_standin",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, 384, 288])],
        [
            helper.make_tensor_value_info("simcc_x", TensorProto.FLOAT, [batch, 133, 576]),
            helper.make_tensor_value_info("simcc_y", TensorProto.FLOAT, [batch, 133, 768]),
        ],
    )
    _save(graph, path)


@pytest.fixture(scope="module", params=[1, "batch"], ids=["batch1", "free_batch"])
def model_dir(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"dwpose_{request.param}")
    _detector_graph(folder / "yolox_l.onnx")
    _pose_graph(folder / "dw-ll_ucoco_384.onnx", request.param)
    return folder


@pytest.fixture(scope="module")
def detector(model_dir):
    return DWPoseDetector(model_dir, providers=["CPUExecutionProvider"])


def _expected_openpose() -> np.ndarray:
    """The 134 keypoints the stand-in models should produce, worked out from the markers directly."""
    wholebody = np.array([(*MARKERS[c], min(w, 1.0)) for c, w in zip(CHANNEL, WEIGHT, strict=True)])
    out = np.zeros((134, 3))
    for joint, coco in enumerate(OPENPOSE_FROM_COCO):
        if coco is not None:
            out[joint] = wholebody[coco]
    out[1] = (*((wholebody[5, :2] + wholebody[6, :2]) / 2), 1.0)
    out[18:] = wholebody[17:]
    return out


def _assert_keypoints(found: np.ndarray, expected: np.ndarray) -> None:
    np.testing.assert_allclose(found[:, 2], expected[:, 2], atol=1e-3)
    seen = expected[:, 2] > 0
    np.testing.assert_allclose(found[seen, :2], expected[seen, :2], atol=1.0)


def test_detect_boxes_finds_the_person_only(detector):
    boxes = detector.detect_boxes(_picture())
    assert boxes.shape == (1, 4)
    np.testing.assert_allclose(boxes[0], RECT, atol=1.0)


def test_detect_returns_keypoints_on_the_markers(detector):
    keypoints = detector.detect(_picture())
    assert keypoints.shape == (1, 134, 3) and keypoints.dtype == np.float32
    expected = _expected_openpose()
    assert expected[1, 0] != expected[0, 0]  # the shoulders follow different markers: the neck is between
    _assert_keypoints(keypoints[0], expected)


def test_estimate_handles_several_boxes(detector):
    # Crops of at most one image pixel per crop pixel, so each 2x2 marker keeps a full-value sample.
    boxes = np.array([RECT, (120, 110, 230, 270), (100, 40, 260, 320)], np.float32)
    keypoints = detector.estimate(_picture(), boxes)
    assert keypoints.shape == (3, 134, 3)
    for person in keypoints:
        _assert_keypoints(person, _expected_openpose())


def test_no_person_gives_an_empty_array(detector):
    keypoints = detector.detect(_picture(person=False))
    assert keypoints.shape == (0, 134, 3) and keypoints.dtype == np.float32


@pytest.mark.parametrize(
    ("image", "match"),
    [
        (np.zeros((32, 32, 3), np.float32), "uint8"),
        (np.zeros((32, 32), np.uint8), "height, width, 3"),
        (np.zeros((32, 32, 4), np.uint8), "height, width, 3"),
        (np.zeros((0, 32, 3), np.uint8), "height, width, 3"),
        ([[0, 0, 0]], "uint8"),
    ],
)
def test_bad_images_are_rejected(detector, image, match):
    with pytest.raises(AnimatexError, match=match):
        detector.detect(image)


def test_bad_boxes_are_rejected(detector):
    with pytest.raises(AnimatexError, match="persons, 4"):
        detector.estimate(_picture(), np.zeros((2, 5)))


def test_swapped_files_are_reported(tmp_path):
    _pose_graph(tmp_path / "yolox_l.onnx", 1)
    _detector_graph(tmp_path / "dw-ll_ucoco_384.onnx")
    with pytest.raises(AnimatexError, match="dw-ll_ucoco_384.onnx has outputs .*simcc_x"):
        DWPoseDetector(tmp_path, providers=["CPUExecutionProvider"])


def test_wrong_detector_output_is_reported(tmp_path):
    _pose_graph(tmp_path / "yolox_l.onnx", 1)
    _pose_graph(tmp_path / "dw-ll_ucoco_384.onnx", 1)
    detector = DWPoseDetector(tmp_path, providers=["CPUExecutionProvider"])
    with pytest.raises(AnimatexError, match="is yolox_l.onnx the YOLOX-L file"):
        detector.detect(_picture())
