import logging

import numpy as np
import PIL.Image
import pytest
import torch
from diffusers.hooks import HookRegistry, ModelHook

from animatex.models.transformer_animatex import TEXT_SEQUENCE_LENGTH
from animatex.pipelines import AnimateXPipeline, AnimateXPipelineOutput
from animatex.pipelines.tiny import build_tiny_pipeline

POSE_FEATURES = ("pose_states", "ref_pose_embeds", "pose_indicator_states")


class TransformerSpy:
    """Records the keyword arguments of every transformer call, the pose features spelled out."""

    def __init__(self, transformer):
        self.calls: list[dict] = []
        self.handle = transformer.register_forward_pre_hook(self._record, with_kwargs=True)

    def _record(self, module, args, kwargs):
        features = kwargs["pose_features"]
        self.calls.append({**kwargs, **{name: getattr(features, name) for name in POSE_FEATURES}})

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.remove()


# ---- shapes -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("num_frames", "height", "width"),
    [(5, 16, 32), (9, 32, 16), (17, 32, 32)],
)
def test_output_shape_and_range(pipe, make_inputs, run, num_frames, height, width):
    frames = run(pipe, **make_inputs(num_frames, height, width))
    assert frames.shape == (1, num_frames, height, width, 3)
    assert frames.dtype == np.float32
    assert frames.min() >= 0.0 and frames.max() <= 1.0


def test_output_types(pipe, make_inputs, run):
    inputs = make_inputs(5, 16, 16)
    as_np = run(pipe, **inputs)
    as_pt = run(pipe, output_type="pt", **inputs)
    as_pil = run(pipe, output_type="pil", **inputs)
    latents = run(pipe, output_type="latent", **inputs)
    assert as_pt.shape == (1, 5, 3, 16, 16)
    np.testing.assert_allclose(as_pt.permute(0, 1, 3, 4, 2).numpy(), as_np, atol=1e-6)
    assert len(as_pil) == 1 and len(as_pil[0]) == 5 and isinstance(as_pil[0][0], PIL.Image.Image)
    assert as_pil[0][0].size == (16, 16)
    assert latents.shape == (1, 16, 2, 2, 2)  # (B, z, (5 - 1) / 4 + 1, 16 / 8, 16 / 8)


def test_return_dict_false_gives_a_tuple(pipe, make_inputs):
    output = pipe(**make_inputs(5, 16, 16), num_inference_steps=1, return_dict=False)
    assert isinstance(output, tuple) and output[0].shape == (1, 5, 16, 16, 3)
    assert isinstance(pipe(**make_inputs(5, 16, 16), num_inference_steps=1), AnimateXPipelineOutput)


def test_batch_from_prompt_list(pipe, make_inputs):
    inputs = make_inputs(5, 16, 16)
    inputs["prompt"] = ["a cat dances", "a robot waves"]
    frames = pipe(
        generator=[torch.Generator().manual_seed(s) for s in (0, 1)], num_inference_steps=2, **inputs
    )
    assert frames.frames.shape == (2, 5, 16, 16, 3)
    assert not np.allclose(frames.frames[0], frames.frames[1])


def test_input_forms_agree(pipe, make_inputs, run):
    inputs = make_inputs(5, 16, 16)
    reference = run(pipe, **inputs)
    as_pil = {
        **inputs,
        "image": PIL.Image.fromarray(inputs["image"]),
        "pose_video": [PIL.Image.fromarray(f) for f in inputs["pose_video"]],
        "driving_video": list(inputs["driving_video"]),
    }
    as_tensor = {
        **inputs,
        "image": torch.from_numpy(inputs["image"]).permute(2, 0, 1).float() / 255,
        "pose_video": torch.from_numpy(inputs["pose_video"]).permute(0, 3, 1, 2).float() / 255,
        "driving_video": torch.from_numpy(inputs["driving_video"]).permute(3, 0, 1, 2)[
            None
        ],  # (1, 3, F, H, W)
        "pose_keypoints": torch.from_numpy(inputs["pose_keypoints"]),
    }
    np.testing.assert_allclose(run(pipe, **as_pil), reference, atol=1e-5)
    np.testing.assert_allclose(run(pipe, **as_tensor), reference, atol=1e-5)


# ---- determinism and regression -----------------------------------------------------------------------------
def test_determinism_by_seed(pipe, make_inputs, run):
    inputs = make_inputs(9, 32, 32)
    first = run(pipe, seed=3, **inputs)
    np.testing.assert_array_equal(first, run(pipe, seed=3, **inputs))
    assert np.abs(first - run(pipe, seed=4, **inputs)).max() > 1e-3


def test_expected_slice(pipe, make_inputs, run):
    # Regression values of the tiny pipeline (seed 0) at 2 steps, 9 frames, 32x32. If a deliberate change of the
    # tiny components or the sampler moves them, regenerate with this test's inputs and say why in the commit.
    frames = run(pipe, **make_inputs(9, 32, 32))
    got = frames[0, [0, 4, 8], 16, 16].flatten()
    expected = np.array(EXPECTED_SLICE, dtype=np.float32)
    np.testing.assert_allclose(got, expected, atol=1e-4)


EXPECTED_SLICE = [0.538537, 0.449387, 0.519648, 0.330779, 0.408559, 0.262428, 0.433518, 0.664418, 0.478731]


# ---- conditions per task and CFG branch ---------------------------------------------------------------------
@pytest.mark.parametrize("name", ["pose_video", "ref_pose", "driving_video", "pose_keypoints"])
def test_each_pose_input_changes_the_animation(pipe, make_inputs, run, name):
    inputs = make_inputs(9, 32, 32)
    changed = {**inputs, name: make_inputs(9, 32, 32, seed=1)[name]}
    # Random tiny pose modules move the output only slightly; a dropped input would leave it bit-identical.
    assert not np.array_equal(run(pipe, **inputs), run(pipe, **changed))


def test_ti2v_ignores_the_explicit_pose_inputs(pipe, make_inputs, run):
    inputs = make_inputs(9, 32, 32)
    other = make_inputs(9, 32, 32, seed=1)
    explicit = ("pose_video", "ref_pose")  # the IPI inputs (keypoints, driving video) still count in ti2v
    base = run(pipe, task="ti2v", **inputs)
    changed = run(pipe, task="ti2v", **{**inputs, **{k: other[k] for k in explicit}})
    without = run(pipe, task="ti2v", num_frames=9, **{k: v for k, v in inputs.items() if k not in explicit})
    np.testing.assert_array_equal(base, changed)
    np.testing.assert_array_equal(base, without)
    assert np.abs(base - run(pipe, **inputs)).max() > 1e-4  # and ti2v is not the animation


def test_ti2v_feeds_only_the_ipi_and_zero_image_conditions(pipe, make_inputs):
    with TransformerSpy(pipe.transformer) as spy:
        inputs = make_inputs(5, 16, 16)
        pipe(**inputs, task="ti2v", num_inference_steps=1, guidance_scale=3.0, batch_guidance=False)
    assert len(spy.calls) == 2
    for call in spy.calls:
        assert call["pose_states"] is None and call["ref_pose_embeds"] is None
        assert call["pose_indicator_states"] is not None
        condition = call["hidden_states"][:, pipe.transformer.config.out_channels :]
        assert torch.count_nonzero(condition) == 0
        assert torch.count_nonzero(call["encoder_hidden_states_image"]) == 0


def test_negative_branch_drops_only_the_pose_guider_tokens(pipe, make_inputs):
    with TransformerSpy(pipe.transformer) as spy:
        pipe(**make_inputs(9, 32, 32), num_inference_steps=2, guidance_scale=3.0, batch_guidance=False)
    assert len(spy.calls) == 4  # cond + uncond per step (batched, they are one call: test_batch_guidance.py)
    inner = pipe.transformer.inner_dim
    for cond, uncond in zip(spy.calls[0::2], spy.calls[1::2], strict=True):
        assert cond["pose_states"] is not None and cond["pose_states"].shape == (1, inner, 3, 2, 2)
        assert uncond["pose_states"] is None
        for name in ("ref_pose_embeds", "pose_indicator_states", "encoder_hidden_states_image"):
            assert cond[name] is not None
            torch.testing.assert_close(uncond[name], cond[name], rtol=0, atol=0)
        torch.testing.assert_close(uncond["hidden_states"], cond["hidden_states"], rtol=0, atol=0)  # same y
        assert not torch.equal(uncond["encoder_hidden_states"], cond["encoder_hidden_states"])
        assert cond["encoder_hidden_states"].shape[1] == TEXT_SEQUENCE_LENGTH


def test_guidance_scale_one_skips_the_negative_branch(pipe, make_inputs):
    with TransformerSpy(pipe.transformer) as spy:
        pipe(**make_inputs(5, 16, 16), num_inference_steps=2, guidance_scale=1.0)
    assert len(spy.calls) == 2
    assert all(call["pose_states"] is not None for call in spy.calls)


def test_text_guidance_branch_keeps_every_condition_but_the_prompt(pipe, make_inputs):
    with TransformerSpy(pipe.transformer) as spy:
        pipe(
            **make_inputs(5, 16, 16), num_inference_steps=2, guidance_scale=1.0, text_guidance_scale=4.0,
            batch_guidance=False,
        )  # fmt: skip
    assert len(spy.calls) == 4  # cond + no-text per step
    for cond, no_text in zip(spy.calls[0::2], spy.calls[1::2], strict=True):
        for name in (*POSE_FEATURES, "encoder_hidden_states_image"):
            assert cond[name] is not None
            torch.testing.assert_close(no_text[name], cond[name], rtol=0, atol=0)
        torch.testing.assert_close(no_text["hidden_states"], cond["hidden_states"], rtol=0, atol=0)
        assert not torch.equal(no_text["encoder_hidden_states"], cond["encoder_hidden_states"])


def test_text_guidance_extrapolates_from_the_negative_prompt(pipe, make_inputs, run):
    inputs = make_inputs(5, 16, 16)
    plain = run(pipe, **inputs, guidance_scale=1.0)
    np.testing.assert_array_equal(run(pipe, **inputs, guidance_scale=1.0, text_guidance_scale=1.0), plain)

    # One Euler step is linear in the velocity: guided - plain = (scale - 1) * (plain - negative-prompt run).
    def step(**kwargs):
        kwargs = {
            **inputs,
            "num_inference_steps": 1,
            "guidance_scale": 1.0,
            "output_type": "latent",
            "batch_guidance": False,  # the branches as separate forwards, so the identities below are exact
            **kwargs,
        }
        return pipe(generator=torch.Generator().manual_seed(0), **kwargs).frames.double()

    plain, empty, guided = step(), step(prompt=""), step(text_guidance_scale=5.0)
    assert (plain - empty).abs().max() > 0
    torch.testing.assert_close(
        guided - plain, 4 * (plain - empty), rtol=0, atol=1e-2 * (plain - empty).abs().max()
    )
    # The prompt as its own negative: both branches agree and the guidance changes nothing.
    same = step(text_guidance_scale=5.0, negative_prompt=inputs["prompt"])
    torch.testing.assert_close(same, plain, rtol=0, atol=1e-6)


def test_without_ipi_module_driving_inputs_are_ignored(make_inputs, run, caplog):
    pipe = build_tiny_pipeline(seed=0, use_pose_indicator=False)
    pipe.set_progress_bar_config(disable=True)
    inputs = make_inputs(5, 16, 16)
    with caplog.at_level(logging.INFO):
        with_driving = run(pipe, **inputs)
    assert "driving_video` is ignored" in caplog.text
    without = run(pipe, **{k: v for k, v in inputs.items() if k not in ("driving_video", "pose_keypoints")})
    np.testing.assert_array_equal(with_driving, without)


# ---- frames and sizes ---------------------------------------------------------------------------------------
def test_frame_count_rounds_down_to_4k_plus_1(pipe, make_inputs, run, caplog):
    inputs = make_inputs(11, 16, 16)
    with caplog.at_level(logging.WARNING):
        frames = run(pipe, **inputs)
    assert frames.shape[1] == 9
    assert "frame count must be 4k+1" in caplog.text
    # Rounding keeps the first frames: identical to passing the first 9 frames.
    first9 = {
        k: v[:9] if k in ("pose_video", "driving_video", "pose_keypoints") else v for k, v in inputs.items()
    }
    np.testing.assert_array_equal(frames, run(pipe, **first9))


def test_num_frames_selects_a_prefix(pipe, make_inputs, run, caplog):
    inputs = make_inputs(9, 16, 16)
    with caplog.at_level(logging.WARNING):
        frames = run(pipe, num_frames=7, **inputs)
    assert frames.shape[1] == 5 and "first 5 of 7" in caplog.text


def test_size_rounds_down_to_multiple_of_16(pipe, make_inputs, run, caplog):
    inputs = make_inputs(5, 40, 24)
    with caplog.at_level(logging.WARNING):
        frames = run(pipe, **inputs)
    assert frames.shape[2:4] == (32, 16)
    assert "multiples of (16, 16)" in caplog.text
    assert run(pipe, height=16, width=48, **inputs).shape[2:4] == (16, 48)  # explicit size, inputs resized


def test_callback_on_step_end(pipe, make_inputs):
    seen = []

    def callback(pipeline, step, timestep, tensors):
        seen.append((step, tuple(tensors["latents"].shape)))
        return {"latents": tensors["latents"]}

    pipe(**make_inputs(5, 16, 16), num_inference_steps=3, callback_on_step_end=callback)
    assert seen == [(0, (1, 16, 2, 2, 2)), (1, (1, 16, 2, 2, 2)), (2, (1, 16, 2, 2, 2))]


def test_prompt_embeds_match_prompt(pipe, make_inputs, run):
    inputs = make_inputs(5, 16, 16)
    prompt_embeds, negative_embeds = pipe.encode_prompt(inputs.pop("prompt"), negative_prompt="blurry")
    short = prompt_embeds[:, :20]  # padding to 512 tokens is implied
    np.testing.assert_array_equal(
        run(pipe, prompt_embeds=short, negative_prompt_embeds=negative_embeds, **inputs),
        run(pipe, prompt="a cartoon cat dances in the rain", negative_prompt="blurry", **inputs),
    )


# ---- save / load --------------------------------------------------------------------------------------------
def test_save_load_round_trip(pipe, make_inputs, run, tmp_path):
    inputs = make_inputs(9, 32, 32)
    before = run(pipe, **inputs)
    pipe.save_pretrained(tmp_path)
    # mmap-ed weights sit at other memory alignments, which changes CPU float summation order (~1e-6);
    # copying them into fresh memory makes the reload bitwise identical.
    loaded = AnimateXPipeline.from_pretrained(tmp_path, disable_mmap=True)
    loaded.set_progress_bar_config(disable=True)
    assert type(loaded.transformer) is type(pipe.transformer)
    assert loaded.transformer.config.use_pose_indicator
    np.testing.assert_array_equal(run(loaded, **inputs), before)
    mmapped = AnimateXPipeline.from_pretrained(tmp_path)
    mmapped.set_progress_bar_config(disable=True)
    np.testing.assert_allclose(run(mmapped, **inputs), before, atol=1e-5)


def test_saved_sampler_defaults_apply_when_a_call_names_none(make_inputs, tmp_path):
    """A shipped model carries the steps and CFG it was measured with; a call's own values still win."""
    pipe = build_tiny_pipeline(seed=0)  # not the shared fixture: this test changes the config
    assert (pipe.config.default_num_inference_steps, pipe.config.default_guidance_scale) == (50, 3.0)
    pipe.register_to_config(default_num_inference_steps=3, default_guidance_scale=1.0)
    pipe.save_pretrained(tmp_path)
    loaded = AnimateXPipeline.from_pretrained(tmp_path, disable_mmap=True)
    loaded.set_progress_bar_config(disable=True)
    steps = []

    def count(pipeline, step, timestep, tensors):
        steps.append(step)
        return {}

    inputs = make_inputs(5, 16, 16)
    own = loaded(**inputs, generator=torch.Generator().manual_seed(0), callback_on_step_end=count).frames
    assert len(steps) == 3 and loaded.guidance_scale == 1.0
    explicit = loaded(
        **inputs, num_inference_steps=3, guidance_scale=1.0, generator=torch.Generator().manual_seed(0)
    ).frames
    np.testing.assert_array_equal(own, explicit)
    steps.clear()
    loaded(**inputs, num_inference_steps=2, guidance_scale=3.0, callback_on_step_end=count)
    assert len(steps) == 2 and loaded.guidance_scale == 3.0


def test_saved_text_guidance_default_applies(make_inputs, tmp_path):
    pipe = build_tiny_pipeline(seed=0)
    assert pipe.config.default_text_guidance_scale == 1.0
    pipe.register_to_config(default_guidance_scale=1.0, default_text_guidance_scale=4.0)
    pipe.save_pretrained(tmp_path)
    loaded = AnimateXPipeline.from_pretrained(tmp_path, disable_mmap=True)
    loaded.set_progress_bar_config(disable=True)
    inputs = {**make_inputs(5, 16, 16), "num_inference_steps": 2}
    own = loaded(**inputs, generator=torch.Generator().manual_seed(0)).frames
    assert loaded.text_guidance_scale == 4.0
    explicit = loaded(**inputs, text_guidance_scale=4.0, generator=torch.Generator().manual_seed(0)).frames
    np.testing.assert_array_equal(own, explicit)


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        # The official release's sampler (DiffSynth's FlowMatchScheduler(shift=5, sigma_min=0, extra_one_step=True)):
        # sigmas linspace(1, 0, N + 1)[:-1], shifted once: s' = 5 s / (1 + 4 s).
        ("wan", [1000.0, 937.5, 2500 / 3, 625.0]),
        # FlowMatchEulerDiscreteScheduler's own spacing, which the demo model was trained for.
        ("diffusers", [1000.0, 909.7072, 717.3174, 24.4141]),
    ],
)
def test_sigma_schedule_sets_the_steps_the_transformer_sees(make_inputs, tmp_path, schedule, expected):
    pipe = build_tiny_pipeline(seed=0)
    pipe.scheduler.register_to_config(shift=5.0)
    pipe.register_to_config(sigma_schedule=schedule)
    pipe.save_pretrained(tmp_path)  # the setting lives in model_index.json
    loaded = AnimateXPipeline.from_pretrained(tmp_path, disable_mmap=True)
    loaded.set_progress_bar_config(disable=True)
    seen = []

    def record(pipeline, step, timestep, tensors):
        seen.append(float(timestep))
        return {}

    loaded(**make_inputs(5, 16, 16), num_inference_steps=4, guidance_scale=1.0, callback_on_step_end=record)
    np.testing.assert_allclose(seen, expected, atol=1e-3)
    assert float(loaded.scheduler.sigmas[-1]) == 0.0  # the last step lands on the clean sample


def test_a_re_noising_scheduler_is_seeded_by_the_calls_generator(make_inputs):
    """LightX2V-style sampling (diffusers' `stochastic_sampling`: predict the clean sample, re-noise to the next
    level) draws fresh noise each step: the call's generator seeds it, so a seed still names one video."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    pipe = build_tiny_pipeline(seed=0)
    pipe.set_progress_bar_config(disable=True)
    inputs = {**make_inputs(5, 16, 16), "num_inference_steps": 3, "guidance_scale": 1.0, "output_type": "pt"}

    def run(seed):
        return pipe(**inputs, generator=torch.Generator().manual_seed(seed)).frames

    euler = run(0)
    pipe.scheduler = FlowMatchEulerDiscreteScheduler.from_config(pipe.scheduler.config, stochastic_sampling=True)
    first = run(0)
    torch.manual_seed(123)  # the global generator must not matter
    torch.testing.assert_close(run(0), first, rtol=0, atol=0)
    assert (run(1) - first).abs().max() > 1e-3 and (first - euler).abs().max() > 1e-3


def test_unknown_sigma_schedule_is_refused(pipe):
    with pytest.raises(ValueError, match="`sigma_schedule` must be one of"):
        AnimateXPipeline(**pipe.components, sigma_schedule="karras")


def test_invalid_sampler_default_is_refused(pipe):
    with pytest.raises(ValueError, match="default_num_inference_steps"):
        AnimateXPipeline(**pipe.components, default_num_inference_steps=0)


# ---- pose features computed once per call; diffusers hooks compose --------------------------------------------
class CountingHook(ModelHook):
    """A pass-through diffusers hook that counts the calls of its module."""

    def __init__(self, counts: dict, name: str):
        super().__init__()
        self.counts, self.name = counts, name

    def pre_forward(self, module, *args, **kwargs):
        self.counts[self.name] = self.counts.get(self.name, 0) + 1
        return args, kwargs


@pytest.mark.parametrize("batched", [False, True])
def test_diffusers_hooks_on_pose_modules_and_blocks_see_every_call(pipe, make_inputs, run, batched):
    inputs = {**make_inputs(9, 32, 32), "batch_guidance": batched}
    plain = run(pipe, num_inference_steps=3, guidance_scale=2.0, **inputs)
    transformer = pipe.transformer
    modules = {name: getattr(transformer, name) for name in ("pose_guider", "ref_pose_encoder", "pose_indicator")}
    modules.update({f"block{i}": block for i, block in enumerate(transformer.blocks)})
    counts: dict[str, int] = {}
    for name, module in modules.items():
        HookRegistry.check_if_exists_or_initialize(module).register_hook(CountingHook(counts, name), "count")
    try:
        hooked = run(pipe, num_inference_steps=3, guidance_scale=2.0, **inputs)
    finally:
        for module in modules.values():
            HookRegistry.check_if_exists_or_initialize(module).remove_hook("count")
    # Each pose module runs once per call (its inputs never change between steps); every block runs once per
    # step and guidance branch (3 steps x cond + uncond), or once per step with the branches batched.
    assert {name: counts[name] for name in ("pose_guider", "ref_pose_encoder", "pose_indicator")} == dict.fromkeys(
        ("pose_guider", "ref_pose_encoder", "pose_indicator"), 1
    )
    assert all(counts[f"block{i}"] == (3 if batched else 6) for i in range(len(transformer.blocks)))
    np.testing.assert_array_equal(hooked, plain)


def test_precomputed_pose_features_equal_the_raw_inputs(pipe):
    transformer = pipe.transformer
    generator = torch.Generator().manual_seed(0)
    hidden_states = torch.randn(1, 36, 3, 4, 4, generator=generator)
    conditions = {
        "pose_video": torch.rand(1, 3, 9, 32, 32, generator=generator),
        "ref_pose": torch.rand(1, 3, 32, 32, generator=generator),
        "pose_keypoints": torch.rand(1, 9, 18, 2, generator=generator),
        "motion_embeds": torch.randn(1, 9, transformer.config.motion_embed_dim, generator=generator),
    }
    text = torch.randn(1, TEXT_SEQUENCE_LENGTH, transformer.config.text_dim, generator=generator)
    image = torch.randn(1, 5, transformer.config.image_dim, generator=generator)
    args = (hidden_states, torch.tensor([500]), text, image)
    with torch.no_grad():
        raw = transformer(*args, **conditions, return_dict=False)[0]
        features = transformer.encode_pose_conditions(**conditions)
        precomputed = transformer(*args, pose_features=features, return_dict=False)[0]
    torch.testing.assert_close(precomputed, raw, rtol=0, atol=0)
    with pytest.raises(ValueError, match="either raw or as pose_features"):
        transformer(*args, pose_video=conditions["pose_video"], pose_features=features)


def test_reference_in_every_frame_fills_every_latent_frame_of_y(make_inputs, run):
    inputs = make_inputs(num_frames=9)
    first_only = build_tiny_pipeline(seed=0)
    every = build_tiny_pipeline(seed=0, reference_in_every_frame=True)
    reference = torch.from_numpy(inputs["image"]).permute(2, 0, 1).float() / 255.0
    args = (reference[None], 1, 32, 32, 9, torch.device("cpu"))
    y_first = first_only.prepare_condition(*args)
    y_every = every.prepare_condition(*args)
    stride = first_only.vae_scale_factor_temporal
    # The mask channels are the same (only the first frame is given as pixels); the latent channels of every
    # frame are the VAE latents of the reference held still, not of Wan's empty mid-grey frames.
    assert torch.equal(y_first[:, :stride], y_every[:, :stride])
    held = every.encode_video(reference[None].expand(9, -1, -1, -1))
    assert torch.allclose(y_every[:, stride:], held)
    assert torch.allclose(y_first[:, stride:, :1], y_every[:, stride:, :1], atol=1e-5)
    assert not torch.allclose(y_first[:, stride:, 1:], y_every[:, stride:, 1:], atol=1e-3)
    every.set_progress_bar_config(disable=True)
    first_only.set_progress_bar_config(disable=True)
    assert not np.allclose(run(every, **inputs), run(first_only, **inputs))


def test_folder_saved_in_the_old_layout_loads_the_same(make_inputs, run, tmp_path):
    # Before `reference_in_every_frame` moved to the pipeline, it sat in transformer/config.json, and
    # model_index.json named the transformer's library as the private pipeline module.
    import json

    pipe = build_tiny_pipeline(seed=0, reference_in_every_frame=True)
    pipe.set_progress_bar_config(disable=True)
    pipe.save_pretrained(tmp_path)
    index = json.loads((tmp_path / "model_index.json").read_text())
    assert index["transformer"] == ["animatex.models", "AnimateXTransformer3DModel"]
    assert index.pop("reference_in_every_frame") is True
    index["transformer"] = ["animatex.pipelines.pipeline_animatex", "AnimateXTransformer3DModel"]
    (tmp_path / "model_index.json").write_text(json.dumps(index))
    config = json.loads((tmp_path / "transformer" / "config.json").read_text())
    (tmp_path / "transformer" / "config.json").write_text(json.dumps({**config, "reference_in_every_frame": True}))

    loaded = AnimateXPipeline.from_pretrained(tmp_path)
    assert loaded.config.reference_in_every_frame is True
    loaded.set_progress_bar_config(disable=True)
    inputs = make_inputs(5, 16, 16)
    np.testing.assert_array_equal(run(loaded, **inputs), run(pipe, **inputs))


def test_poses_are_drawn_by_the_pipeline_at_the_output_size(pipe, make_inputs, run):
    from animatex.pose.draw import draw_pose_video
    from animatex.pose.sequence import PoseSequence

    inputs = make_inputs(9, 32, 32)
    rng = np.random.default_rng(0)
    poses = PoseSequence.empty(9, width=64, height=64)  # a 64 px driving video
    poses.keypoints[:, :18, :2] = rng.uniform(8, 56, (9, 18, 2))
    poses.keypoints[:, :18, 2] = 1.0
    reference_pose = poses[:1]
    drawn = {
        **inputs,
        "pose_video": draw_pose_video(poses, 32, 32),
        "pose_keypoints": poses,
        "ref_pose": draw_pose_video(reference_pose, 32, 32)[0],
    }
    # A PoseSequence is drawn at the output size and gives the IPI its keypoints: the same as passing both.
    from_poses = {**inputs, "pose_video": poses, "ref_pose": reference_pose}
    from_poses.pop("pose_keypoints")
    np.testing.assert_array_equal(run(pipe, **from_poses), run(pipe, **drawn))


@pytest.mark.parametrize(("reference_size", "expected"), [((720, 1280), (48, 80)), ((64, 64), (64, 64)), ((480, 270), (80, 48))])
def test_default_size_is_the_models_area_in_the_reference_aspect(pipe, reference_size, expected):
    from animatex.pipelines.inputs import FramesInfo

    pipe.register_to_config(default_max_area=64 * 64)
    try:
        assert pipe.fit_size(None, None, FramesInfo(1, *reference_size)) == expected
        assert pipe.fit_size(32, 48, FramesInfo(1, *reference_size)) == (32, 48)  # a given size wins
    finally:
        pipe.register_to_config(default_max_area=None)
    assert pipe.fit_size(None, None, FramesInfo(1, 48, 32)) == (48, 32)  # no area: the reference's own size
