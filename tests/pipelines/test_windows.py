"""Long videos in windows: planning, blending, colour matching (pure functions) and the windowed pipeline."""

import numpy as np
import pytest
import torch

from animatex.pipelines.windows import (
    WindowSettings,
    blend_weights,
    chain_windows,
    check_settings,
    context_windows,
    crossfade,
    match_colours,
    round_up_frames,
)


# ---- planning -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("window", "carried"),
    [(w, k) for w in (5, 9, 17, 81) for k in (1, 5, 9) if k < w - 1],  # the carried frames leave new ones
)
def test_chain_windows_for_every_length(window, carried):
    for num_frames in range(1, 400):
        plan = chain_windows(num_frames, window, carried)
        assert plan[0][0] == 0
        if num_frames <= window:
            assert plan == [(0, round_up_frames(num_frames))]
            continue
        assert all(end - start == window for start, end in plan)  # every window is the native length
        assert all(a[1] - b[0] == carried for a, b in zip(plan, plan[1:], strict=False))  # shares k frames
        assert plan[-1][1] >= num_frames  # covers the video
        assert plan[-2][1] < num_frames  # and no window more than needed


@pytest.mark.parametrize(("window", "overlap"), [(3, 1), (5, 2), (21, 4), (21, 10)])
def test_context_windows_cover_exactly(window, overlap):
    for length in range(1, 300):
        plan = context_windows(length, window, overlap)
        assert plan[0][0] == 0 and plan[-1][1] == length
        assert all(end - start == min(window, length) for start, end in plan)
        assert all(b[0] > a[0] and a[1] - b[0] >= overlap for a, b in zip(plan, plan[1:], strict=False))
        covered = np.zeros(length, bool)
        for start, end in plan:
            covered[start:end] = True
        assert covered.all()


@pytest.mark.parametrize(
    ("length", "window", "overlap"), [(5, 5, 2), (13, 5, 2), (14, 5, 2), (40, 21, 4), (9, 3, 1)]
)
def test_blend_weights_sum_to_one(length, window, overlap):
    plan = context_windows(length, window, overlap)
    weights = blend_weights(plan, length, overlap)
    total = torch.zeros(length)
    for (start, end), weight in zip(plan, weights, strict=True):
        assert weight.shape == (end - start,) and (weight > 0).all()
        total[start:end] += weight
    torch.testing.assert_close(total, torch.ones(length))


def test_blend_weights_ramp_over_an_overlap():
    weights = blend_weights([(0, 5), (3, 8)], 8, 2)
    torch.testing.assert_close(weights[0], torch.tensor([1, 1, 1, 2 / 3, 1 / 3]))
    torch.testing.assert_close(weights[1], torch.tensor([1 / 3, 2 / 3, 1, 1, 1]))


def test_check_settings_says_what_to_pass():
    check_settings("chain", 17, 5)
    check_settings("context", 81, 16)
    for args, message in [
        (("loop", 17, 5), "one of chain, context, none"),
        (("chain", 16, 5), "4k\\+1"),
        (("chain", 17, 4), "4j\\+1"),
        (("context", 17, 5), "multiple of 4"),
        (("chain", 17, 17), "at most 15"),
        (("context", 17, 16), "at most 12"),
    ]:
        with pytest.raises(ValueError, match=message):
            check_settings(*args)


# ---- colours and crossfade ----------------------------------------------------------------------------------
def test_match_colours_gives_the_source_the_targets_statistics():
    generator = torch.Generator().manual_seed(0)
    video = torch.rand(1, 3, 6, 8, 8, generator=generator) * 0.5
    target = torch.rand(1, 3, 2, 8, 8, generator=generator) * 0.8 + 0.1
    matched = match_colours(video, video[:, :, :2], target)
    dims = (2, 3, 4)
    torch.testing.assert_close(matched[:, :, :2].mean(dims), target.mean(dims))
    torch.testing.assert_close(matched[:, :, :2].std(dims), target.std(dims), rtol=1e-4, atol=1e-5)


def test_crossfade_passes_from_previous_to_new():
    previous, new = torch.zeros(1, 1, 3, 2, 2), torch.ones(1, 1, 3, 2, 2)
    torch.testing.assert_close(crossfade(previous, new)[0, 0, :, 0, 0], torch.tensor([0.25, 0.5, 0.75]))


# ---- the pipeline -------------------------------------------------------------------------------------------
def _call(pipe, make_inputs, num_frames, windows=None, **kwargs):
    inputs = make_inputs(num_frames, 16, 16)
    return pipe(
        **inputs, num_inference_steps=2, generator=torch.Generator().manual_seed(0), windows=windows, **kwargs
    )


@pytest.mark.parametrize("num_frames", [6, 10, 23])
@pytest.mark.parametrize("windows", [WindowSettings("chain", 9, 1), WindowSettings("chain", 9, 5, True, 0.1),
                                     WindowSettings("context", 9, 4)])  # fmt: skip
def test_windowed_output_has_exactly_the_driving_length(pipe, make_inputs, num_frames, windows):
    frames = _call(pipe, make_inputs, num_frames, windows).frames
    assert frames.shape == (1, num_frames, 16, 16, 3)
    assert np.isfinite(frames).all()


@pytest.mark.parametrize("windows", [WindowSettings("chain", 9, 1), WindowSettings("chain", 9, 5),
                                     WindowSettings("context", 9, 4), WindowSettings("chain", 17, 5)])  # fmt: skip
def test_one_window_is_bit_identical_to_the_single_call(pipe, make_inputs, windows):
    single = _call(pipe, make_inputs, 9, WindowSettings("none")).frames
    assert np.array_equal(_call(pipe, make_inputs, 9, windows).frames, single)


def test_padded_single_window_equals_the_full_window_cut(pipe, make_inputs):
    """6 frames run as one 9-frame window (the poses held on the last frame) cut to 6."""
    inputs = make_inputs(6, 16, 16)
    held = {
        name: np.concatenate([value, np.repeat(value[-1:], 3, axis=0)])
        for name, value in inputs.items()
        if name in ("pose_video", "driving_video", "pose_keypoints")
    }
    padded = pipe(
        **{**inputs, **held}, num_inference_steps=2, generator=torch.Generator().manual_seed(0)
    ).frames
    windowed = _call(pipe, make_inputs, 6, WindowSettings("chain", 9, 1)).frames
    np.testing.assert_array_equal(windowed, padded[:, :6])


def _inputs_seen(pipe, make_inputs, windows):
    """The output frames and every transformer input (`hidden_states`: noisy latents + y) of a call."""
    seen = []
    handle = pipe.transformer.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(kwargs["hidden_states"].clone()), with_kwargs=True
    )
    try:
        return _call(pipe, make_inputs, 17, windows).frames, seen
    finally:
        handle.remove()


def test_carried_frames_reach_the_next_window(pipe, make_inputs, monkeypatch):
    windows = WindowSettings("chain", 9, 1, crossfade=False)
    plain, plain_inputs = _inputs_seen(pipe, make_inputs, windows)  # windows [0, 9) and [8, 17), 2 steps each
    original = pipe.chain_condition

    def brighter(reference, carried, *args, **kwargs):
        return original(reference, (carried + 0.3).clamp(0, 1), *args, **kwargs)

    monkeypatch.setattr(pipe, "chain_condition", brighter)
    changed, changed_inputs = _inputs_seen(pipe, make_inputs, windows)
    np.testing.assert_array_equal(changed[:, :9], plain[:, :9])  # the first window is untouched
    z = pipe.vae.config.z_dim
    stride = pipe.vae_scale_factor_temporal
    y_plain, y_changed = plain_inputs[-1][:, z + stride :], changed_inputs[-1][:, z + stride :]  # window 2
    assert (y_plain[:, :, 0] - y_changed[:, :, 0]).abs().mean() > 1e-3  # the carried frame's latent in y
    assert not np.array_equal(changed[:, 9:], plain[:, 9:])  # the second window's output follows


def test_chain_condition_marks_the_carried_frames_as_given(pipe):
    carried = torch.rand(1, 5, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    reference = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    y = pipe.chain_condition(reference, carried, 9, 0.0, None, torch.device("cpu"))
    stride = pipe.vae_scale_factor_temporal
    assert y.shape[:3] == (1, stride + pipe.vae.config.z_dim, 3)
    assert (y[:, :stride, :2] == 1).all() and (y[:, :stride, 2:] == 0).all()  # 5 frames = 2 latent frames
    other = pipe.chain_condition(reference, 1 - carried, 9, 0.0, None, torch.device("cpu"))
    assert not torch.equal(y[:, stride:, :2], other[:, stride:, :2])
    noisy = pipe.chain_condition(
        reference, carried, 9, 0.5, torch.Generator().manual_seed(0), torch.device("cpu")
    )
    assert not torch.equal(noisy[:, stride:, :2], y[:, stride:, :2])
    torch.testing.assert_close(noisy[:, stride:, 2:], y[:, stride:, 2:])  # noise only on the carried frames


def test_streamed_windows_equal_the_returned_video(pipe, make_inputs):
    for windows in (WindowSettings("chain", 9, 5), WindowSettings("context", 9, 4)):
        whole = _call(pipe, make_inputs, 23, windows).frames
        chunks = []
        output = _call(pipe, make_inputs, 23, windows, on_frames=chunks.append)
        assert output.frames is None and len(chunks) > 1
        np.testing.assert_array_equal(np.concatenate(chunks, axis=1), whole)


def test_one_progress_step_per_window_and_step(pipe, make_inputs):
    steps = []
    _call(
        pipe,
        make_inputs,
        23,
        WindowSettings("chain", 9, 5),
        callback_on_step_end=lambda *a: steps.append(a[1]),
    )
    assert len(steps) == len(chain_windows(23, 9, 5)) * 2


def test_decode_in_chunks_equals_one_decode(pipe):
    latents = torch.randn(1, pipe.vae.config.z_dim, 7, 4, 4, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        chunks = list(pipe.decode_video_chunks(latents, 3))
        whole = pipe.decode_video(latents)
    assert [c.shape[2] for c in chunks] == [9, 12, 4]
    torch.testing.assert_close(torch.cat(chunks, 2), whole, rtol=0, atol=0)


def test_window_settings_come_from_the_config(pipe):
    assert pipe.window_settings().strategy == "none"  # the tiny model names no native length
    with pytest.raises(ValueError, match="needs a window length"):
        pipe.window_settings(WindowSettings("chain"))
    pipe.register_to_config(default_window_frames=9)
    try:
        settings = pipe.window_settings()
        assert (settings.strategy, settings.frames, settings.overlap) == ("chain", 9, 5)
        assert pipe.window_settings(WindowSettings("context")).overlap == 8 - 4  # fits a 9-frame window
    finally:
        pipe.register_to_config(default_window_frames=None)


def test_latent_output_needs_one_window(pipe, make_inputs):
    with pytest.raises(ValueError, match="needs one window"):
        _call(pipe, make_inputs, 23, WindowSettings("chain", 9, 1), output_type="latent")
