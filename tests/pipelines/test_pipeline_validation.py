import numpy as np
import pytest
import torch

from animatex.pipelines.inputs import check_keypoints, check_video, keypoints_to_tensor, video_to_tensor
from animatex.pipelines.tiny import build_tiny_pipeline
from animatex.pose.sequence import PoseSequence


def _bad(make_inputs, **changes):
    inputs = {**make_inputs(9, 16, 16), "num_inference_steps": 1, **changes}
    return {k: v for k, v in inputs.items() if v is not ...}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"pose_keypoints": np.zeros((5, 18, 2), np.float32)}, "pose_video: 9, pose_keypoints: 5"),
        (
            {"driving_video": np.zeros((8, 16, 16, 3), np.uint8)},
            "pose_video: 9, pose_keypoints: 9, driving_video: 8",
        ),
        (
            {"pose_video": np.full((9, 16, 16, 3), 255.0, np.float32)},
            "`pose_video` holds floating point values",
        ),
        ({"pose_video": np.zeros((9, 16, 16, 3), np.int64)}, "`pose_video` must be uint8"),
        ({"pose_video": torch.rand(9, 16, 16, 3)}, "`pose_video` as a tensor must have shape (F, 3, H, W)"),
        ({"pose_video": []}, "`pose_video` is empty"),
        ({"pose_video": np.zeros((0, 16, 16, 3), np.uint8)}, "`pose_video` is empty"),
        ({"pose_video": None}, "task='animate' needs `pose_video`"),
        ({"image": "reference.png"}, "`image` must be a PIL image"),
        ({"image": np.zeros((16, 16), np.uint8)}, "`image` as an array must have shape (H, W, 3)"),
        (
            {"ref_pose": torch.full((3, 16, 16), -0.5)},
            "`ref_pose` holds floating point values in [-0.5, -0.5]",
        ),
        (
            {"pose_keypoints": np.full((9, 18, 2), 3.0, np.float32)},
            "`pose_keypoints` coordinates must be normalised",
        ),
        ({"pose_keypoints": np.zeros((9, 17, 2), np.float32)}, "`pose_keypoints` must have shape (F, 18, 2)"),
        ({"driving_video": ...}, "pass both, or neither"),
        ({"task": "t2v"}, "`task` must be one of ('animate', 'ti2v')"),
        ({"output_type": "mp4"}, "`output_type` must be one of"),
        ({"num_frames": 13}, "`num_frames`=13 asks for more frames than the driving motion has (9)"),
        ({"num_frames": 0}, "`num_frames` must be a positive integer"),
        ({"height": 8}, "is too small: both must be at least 16x16"),
        ({"num_inference_steps": 0}, "`num_inference_steps` must be a positive integer"),
        ({"guidance_scale": float("inf")}, "`guidance_scale` must be a finite number"),
        ({"guidance_scale": float("nan")}, "`guidance_scale` must be a finite number"),
        ({"text_guidance_scale": float("-inf")}, "`text_guidance_scale` must be a finite number"),
        ({"prompt_embeds": torch.zeros(1, 8, 32)}, "pass either `prompt` or `prompt_embeds`"),
        ({"prompt": 3}, "`prompt` must be a string or a list of strings"),
        ({"negative_prompt": ["a", "b"]}, "`negative_prompt` has 2 entries"),
        ({"latents": torch.zeros(1, 16, 2, 4, 4)}, "`latents` must have shape (1, 16, 3, 2, 2)"),
    ],
)
def test_bad_input_raises_value_error_naming_it(pipe, make_inputs, changes, message):
    with pytest.raises(ValueError) as error:
        pipe(**_bad(make_inputs, **changes))
    assert message in str(error.value)


def test_ti2v_needs_a_frame_count(pipe, make_inputs):
    with pytest.raises(ValueError, match="task='ti2v' needs `num_frames`"):
        pipe(**_bad(make_inputs, pose_video=None, driving_video=None, pose_keypoints=None, task="ti2v"))


def test_missing_text_encoder(make_inputs):
    pipe = build_tiny_pipeline(tokenizer=None, text_encoder=None)
    with pytest.raises(ValueError, match="no `tokenizer`/`text_encoder`; load them or pass `prompt_embeds`"):
        pipe(**make_inputs(5, 16, 16), num_inference_steps=1)
    # prompt_embeds instead works without a text encoder
    inputs = make_inputs(5, 16, 16)
    del inputs["prompt"]
    out = pipe(
        **inputs,
        prompt_embeds=torch.zeros(1, 4, 32),
        negative_prompt_embeds=torch.zeros(1, 4, 32),
        num_inference_steps=1,
    )
    assert out.frames.shape == (1, 5, 16, 16, 3)


def test_missing_image_encoder(make_inputs):
    pipe = build_tiny_pipeline(image_encoder=None)
    with pytest.raises(ValueError, match="no `image_encoder`/`image_processor`"):
        pipe(**make_inputs(5, 16, 16), num_inference_steps=1)


def test_wrong_motion_width(make_inputs):
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    motion_encoder = CLIPVisionModelWithProjection(
        CLIPVisionConfig(
            hidden_size=8, projection_dim=6, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8,
            image_size=32, patch_size=8,
        )
    )  # fmt: skip
    pipe = build_tiny_pipeline(motion_encoder=motion_encoder)
    with pytest.raises(
        ValueError, match="gives 6-wide `image_embeds` but the transformer expects `motion_embed_dim`=4"
    ):
        pipe(**make_inputs(5, 16, 16), num_inference_steps=1)


def test_motion_encoder_is_used_instead_of_image_encoder(make_inputs):
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(7)
    motion_encoder = CLIPVisionModelWithProjection(
        CLIPVisionConfig(
            hidden_size=8, projection_dim=4, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8,
            image_size=32, patch_size=8,
        )
    ).eval()  # fmt: skip
    plain = build_tiny_pipeline()
    with_motion = build_tiny_pipeline(motion_encoder=motion_encoder)
    inputs = make_inputs(5, 16, 16)
    features = with_motion.encode_motion(video_to_tensor(inputs["driving_video"]), torch.device("cpu"))
    torch.testing.assert_close(features[0], motion_encoder(**_clip_pixels(with_motion, inputs)).image_embeds)
    assert not torch.allclose(features, plain.encode_motion(video_to_tensor(inputs["driving_video"]), "cpu"))


def _clip_pixels(pipe, inputs):
    frames = video_to_tensor(inputs["driving_video"])
    encoder, processor = pipe.motion_encoder_and_processor
    return {"pixel_values": pipe._encoder_pixels(encoder, processor, list(frames))}


# ---- the input converters -----------------------------------------------------------------------------------
def test_video_forms_convert_to_the_same_tensor():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (3, 8, 6, 3), dtype=np.uint8)
    expected = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255
    assert check_video(frames, "v").num_frames == 3
    torch.testing.assert_close(video_to_tensor(frames), expected)
    torch.testing.assert_close(video_to_tensor(list(frames)), expected)
    torch.testing.assert_close(video_to_tensor(expected.clone()), expected)
    torch.testing.assert_close(video_to_tensor(expected.transpose(0, 1)[None]), expected)  # (1, 3, F, H, W)


def test_keypoints_from_pose_sequence():
    body = np.zeros((2, 18, 3), np.float32)
    body[..., 0], body[..., 1], body[..., 2] = 50.0, 120.0, 1.0
    body[0, 3, 2] = 0.0  # invisible
    body[1, 4, 0] = 101.0  # a detection just outside the frame
    sequence = PoseSequence.from_body(body, width=100, height=200)
    assert check_keypoints(sequence, "pose_keypoints") == 2
    keypoints = keypoints_to_tensor(sequence)
    assert keypoints.shape == (2, 18, 2)
    torch.testing.assert_close(keypoints[0, 0], torch.tensor([0.5, 0.6]))
    torch.testing.assert_close(keypoints[0, 3], torch.tensor([-1.0, -1.0]))
    assert keypoints[1, 4, 0] == 1.0


def test_mixed_frame_sizes_rejected():
    frames = [np.zeros((8, 8, 3), np.uint8), np.zeros((8, 9, 3), np.uint8)]
    with pytest.raises(ValueError, match="all frames of `pose_video` must have the same size"):
        check_video(frames, "pose_video")
