"""The pipeline feeds the transformer what the official Animate-X++ release feeds it (issue #18)."""

import numpy as np
import torch

from animatex.pipelines.pipeline_animatex import TASK_CONDITIONS


class Recorder:
    """The keyword arguments of every call of `module` (a forward pre-hook, removed on exit)."""

    def __init__(self, module):
        self.calls: list[dict] = []
        self.handle = module.register_forward_pre_hook(
            lambda module, args, kwargs: self.calls.append(dict(kwargs)), with_kwargs=True
        )

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.remove()


def test_ti2v_feeds_the_ipi_to_both_guidance_branches(pipe, make_inputs, run):
    """The release's `is_i2v` zeroes y, the CLIP features and the pose tokens but keeps the IPI output."""
    assert TASK_CONDITIONS["ti2v"] == {"pose_keypoints", "motion_embeds"}
    inputs = make_inputs(5, 16, 16)
    with Recorder(pipe.transformer) as spy:
        pipe(**inputs, task="ti2v", num_inference_steps=1, guidance_scale=3.0, batch_guidance=False)
    cond, uncond = (call["pose_features"] for call in spy.calls)
    for features in (cond, uncond):
        assert features.pose_states is None and features.ref_pose_embeds is None
        assert features.pose_indicator_states.shape == (1, 2, pipe.transformer.inner_dim)
    torch.testing.assert_close(uncond.pose_indicator_states, cond.pose_indicator_states, rtol=0, atol=0)
    # The IPI reads the keypoints: other keypoints, another ti2v video.
    moved = {**inputs, "pose_keypoints": np.clip(inputs["pose_keypoints"] + 0.2, 0.0, 1.0)}
    assert not np.array_equal(run(pipe, task="ti2v", **inputs), run(pipe, task="ti2v", **moved))


def test_ti2v_takes_its_frame_count_from_the_ipi_inputs(pipe, make_inputs, run):
    inputs = make_inputs(5, 16, 16)
    del inputs["pose_video"], inputs["ref_pose"]
    assert run(pipe, task="ti2v", num_inference_steps=1, **inputs).shape == (1, 5, 16, 16, 3)


def _three_bands(height: int, width: int) -> torch.Tensor:
    """(3, H, W) in [0, 1]: a red left third, a green middle third, a blue right third (along the long side)."""
    picture = torch.zeros(3, height, width)
    if width >= height:
        bands = torch.arange(width) * 3 // width
        for channel in range(3):
            picture[channel, :, bands == channel] = 1.0
    else:
        bands = torch.arange(height) * 3 // height
        for channel in range(3):
            picture[channel, bands == channel, :] = 1.0
    return picture


def _pixels_seen(encoder, encode, *args):
    """The pixel values `encode(*args)` feeds `encoder`."""
    with Recorder(encoder) as spy:
        encode(*args)
    return spy.calls[0]["pixel_values"]


def test_clip_inputs_are_the_whole_picture_squashed(pipe):
    """The release resizes the reference and each driving frame to the CLIP input size as a whole: for a
    landscape picture the left edge stays red and the right edge blue (a centre crop keeps only green)."""
    size = pipe.image_encoder.config.image_size
    red = pipe.image_processor(images=[torch.tensor([1.0, 0, 0])[:, None, None].expand(3, 4, 4)],
                               do_rescale=False, return_tensors="pt").pixel_values[0, :, 0, 0]  # fmt: skip
    device = torch.device("cpu")
    for height, width in ((16, 48), (48, 16)):
        picture = _three_bands(height, width)
        image_pixels = _pixels_seen(pipe.image_encoder, pipe.encode_image, picture, device)
        motion_pixels = _pixels_seen(pipe.motion_encoder_and_processor[0], pipe.encode_motion, picture[None], device)
        for pixels in (image_pixels, motion_pixels):
            assert pixels.shape == (1, 3, size, size)
            first = pixels[0, :, 0, 0]  # top-left: red in both orientations
            torch.testing.assert_close(first, red, rtol=0, atol=1e-3)
            last = pixels[0, :, -1, -1]
            assert last[2] > last[0] and last[2] > last[1]  # bottom-right: blue


def test_pictures_at_the_encoder_size_give_the_same_clip_input_as_before(pipe):
    """Squash, centre crop and any resampling coincide on a square picture already at the encoder's input size:
    the demo model's 64 x 64 inputs to its 64 px encoder are unchanged."""
    size = pipe.image_encoder.config.image_size
    # An 8-bit picture, as every decoded image is (the processor's PIL path rounds floats to 8 bits).
    picture = torch.randint(0, 256, (3, size, size), generator=torch.Generator().manual_seed(0)) / 255.0
    cropped = pipe.image_processor(images=[picture], do_rescale=False, return_tensors="pt").pixel_values
    seen = _pixels_seen(pipe.image_encoder, pipe.encode_image, picture, torch.device("cpu"))
    torch.testing.assert_close(seen, cropped, rtol=0, atol=1e-6)
