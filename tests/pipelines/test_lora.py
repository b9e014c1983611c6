"""LoRA files for the Wan2.1 transformer load into AnimateXPipeline through diffusers' loader (issue #21)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from animatex.cli import main
from animatex.data.generate import generate
from animatex.io import read_video
from animatex.pipelines.lora import LoraError, LoraSpec, check_lora_file, load_loras, parse_lora_spec
from animatex.pipelines.tiny import build_tiny_pipeline

# diffusers module -> original Wan name, the layout distillation LoRAs (LightX2V style) are published in.
WAN_NAMES = {
    "attn1.to_q": "self_attn.q", "attn1.to_k": "self_attn.k", "attn1.to_v": "self_attn.v",
    "attn1.to_out.0": "self_attn.o", "attn2.to_q": "cross_attn.q", "attn2.to_k": "cross_attn.k",
    "attn2.to_v": "cross_attn.v", "attn2.to_out.0": "cross_attn.o", "attn2.add_k_proj": "cross_attn.k_img",
    "attn2.add_v_proj": "cross_attn.v_img", "ffn.net.0.proj": "ffn.0", "ffn.net.2": "ffn.2",
}  # fmt: skip


def _wan_lora_file(transformer, path, rank: int = 4) -> None:
    """A random LoRA on every block linear, in the original Wan key layout (lora_down / lora_up)."""
    g = torch.Generator().manual_seed(0)
    tensors = {}
    for index, block in enumerate(transformer.blocks):
        for name, wan_name in WAN_NAMES.items():
            layer = block.get_submodule(name)
            key = f"diffusion_model.blocks.{index}.{wan_name}"
            tensors[f"{key}.lora_down.weight"] = torch.randn(rank, layer.in_features, generator=g) * 0.1
            tensors[f"{key}.lora_up.weight"] = torch.randn(layer.out_features, rank, generator=g) * 0.1
    save_file(tensors, str(path))


def _run(pipe, inputs):
    return pipe(**inputs, num_inference_steps=2, generator=torch.Generator().manual_seed(0)).frames


def test_wan_lora_file_loads_and_acts_with_every_pose_input(make_inputs, tmp_path):
    pipe = build_tiny_pipeline(seed=0)
    pipe.set_progress_bar_config(disable=True)
    inputs = make_inputs(9, 32, 32)
    plain = _run(pipe, inputs)
    _wan_lora_file(pipe.transformer, tmp_path / "distill_lora.safetensors")
    pipe.load_lora_weights(str(tmp_path / "distill_lora.safetensors"), adapter_name="distill")
    with_lora = _run(pipe, inputs)
    assert np.abs(with_lora - plain).max() > 1e-3
    other = make_inputs(9, 32, 32, seed=1)
    for name in ("pose_video", "ref_pose", "driving_video", "pose_keypoints"):
        assert not np.array_equal(_run(pipe, {**inputs, name: other[name]}), with_lora), name
    pipe.set_adapters("distill", 0.0)
    np.testing.assert_allclose(_run(pipe, inputs), plain, atol=1e-6)


# ---- LightX2V-layout distillation LoRAs through `load_loras` and `animatex animate --lora` ------------------------
RANK, ALPHA = 4, 2.0


def _lightx2v_lora(transformer, path, seed: int = 0) -> dict[str, torch.Tensor]:
    """A LoRA in the layout of LightX2V's Wan2.1-I2V distillation LoRAs for `transformer`'s shapes: `lora_down` /
    `lora_up` / `alpha` on every block linear, `diff_b` bias deltas and zero `.diff` norm entries. Returns the deltas
    merged by hand, `W += alpha / rank * up @ down` and `b += diff_b`, by diffusers parameter name."""
    g = torch.Generator().manual_seed(seed)
    tensors, deltas = {}, {}
    for index, block in enumerate(transformer.blocks):
        for name, wan_name in WAN_NAMES.items():
            layer = block.get_submodule(name)
            key = f"diffusion_model.blocks.{index}.{wan_name}"
            down = torch.randn(RANK, layer.in_features, generator=g) * 0.2
            up = torch.randn(layer.out_features, RANK, generator=g) * 0.2
            bias = torch.randn(layer.out_features, generator=g) * 0.02
            tensors[f"{key}.lora_down.weight"], tensors[f"{key}.lora_up.weight"] = down, up
            tensors[f"{key}.alpha"], tensors[f"{key}.diff_b"] = torch.tensor(ALPHA), bias
            deltas[f"blocks.{index}.{name}.weight"] = ALPHA / RANK * up @ down
            deltas[f"blocks.{index}.{name}.bias"] = bias
        for norm in ("self_attn.norm_q", "self_attn.norm_k"):
            tensors[f"diffusion_model.blocks.{index}.{norm}.diff"] = torch.zeros_like(
                block.attn1.norm_q.weight
            )
    save_file(tensors, str(path))
    return deltas


def _merged_by_hand(transformer, deltas: dict[str, torch.Tensor], scale: float) -> dict[str, torch.Tensor]:
    state = {name: value.clone() for name, value in transformer.state_dict().items()}
    for name, delta in deltas.items():
        state[name] += scale * delta
    return state


def test_lightx2v_lora_lands_on_the_weights_it_names(tmp_path):
    """Every delta lands on the diffusers weight its original Wan key names, alpha / rank and the scale applied,
    and the fused pipeline holds no LoRA layers afterwards."""
    pipe = build_tiny_pipeline(seed=0)
    deltas = _lightx2v_lora(pipe.transformer, tmp_path / "distill.safetensors")
    expected = _merged_by_hand(pipe.transformer, deltas, 0.5)
    load_loras(pipe, [f"{tmp_path / 'distill.safetensors'}:0.5"])
    merged = pipe.transformer.state_dict()
    assert merged.keys() == expected.keys()
    for name, value in expected.items():
        torch.testing.assert_close(merged[name], value, atol=1e-5, rtol=1e-5, msg=name)


@pytest.fixture(scope="module")
def animate_case(tmp_path_factory):
    """A saved tiny pipeline, the same pipeline with a LightX2V-layout LoRA merged by hand, the LoRA file and a
    9-frame A2Bench-Synth clip (reference picture + pose file)."""
    root = tmp_path_factory.mktemp("lora_case")
    pipe = build_tiny_pipeline(seed=0)
    pipe.save_pretrained(root / "model")
    deltas = _lightx2v_lora(pipe.transformer, root / "distill.safetensors")
    pipe.transformer.load_state_dict(_merged_by_hand(pipe.transformer, deltas, 1.0))
    pipe.save_pretrained(root / "merged")
    return root, generate(root / "case", "human", 1, 0, "test", 64, 9)[0]


def _animate(root, case, out, model, *extra) -> np.ndarray:
    args = [
        "animate", "--reference", str(case / "reference.png"), "--driving", str(case / "poses.npz"),
        "--model", str(root / model), "--size", "64x64", "--align", "none", "--steps", "4", "--guidance", "1",
        "-o", str(out), *extra,
    ]  # fmt: skip
    assert main(args) == 0
    return read_video(out)[0].astype(np.float64)


def test_animate_with_a_distillation_lora_in_4_steps(animate_case, tmp_path, capsys):
    root, case = animate_case
    plain = _animate(root, case, tmp_path / "plain.mp4", "model")
    with_lora = _animate(
        root, case, tmp_path / "lora.mp4", "model", "--lora", str(root / "distill.safetensors")
    )
    by_hand = _animate(root, case, tmp_path / "hand.mp4", "merged")
    assert "Traceback" not in capsys.readouterr().err
    assert np.abs(with_lora - plain).mean() > 5  # the LoRA changes the video (uint8 levels)
    assert np.abs(with_lora - by_hand).mean() < 0.5  # as the deltas merged by hand, up to the mp4 encoder


@pytest.mark.parametrize(
    ("name", "keys", "message"),
    [
        ("pose.safetensors", {"diffusion_model.pose_guider.convs.0.lora_down.weight": (4, 8)}, "pose modules"),
        ("release_pose.safetensors", {"diffusion_model.dwpose_embedding.0.lora_up.weight": (8, 4)}, "pose modules"),
        ("unknown.safetensors", {"transformer.blocks.0.attn1.to_qq.lora_A.weight": (4, 8)},
         "matches nothing in the model: 1 key, e.g. 'transformer.blocks.0.attn1.to_qq.lora_A.weight'"),
        ("foreign.safetensors", {"diffusion_model.blocks.0.self_attn.q_proj.lora_down.weight": (4, 8)},
         "not a Wan2.1 LoRA that diffusers' converter reads"),
        ("wide.safetensors", {"diffusion_model.blocks.0.self_attn.q.lora_down.weight": (4, 5120),
                              "diffusion_model.blocks.0.self_attn.q.lora_up.weight": (5120, 4)}, "has shape"),
    ],
)  # fmt: skip
def test_a_lora_that_does_not_fit_is_refused_in_one_line(animate_case, tmp_path, capsys, name, keys, message):
    root, case = animate_case
    path = tmp_path / name
    save_file({key: torch.zeros(shape) for key, shape in keys.items()}, str(path))
    args = [
        "animate", "--reference", str(case / "reference.png"), "--driving", str(case / "poses.npz"),
        "--model", str(root / "model"), "-o", str(tmp_path / "out.mp4"), "--lora", str(path),
    ]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out.mp4").exists()


def test_a_lora_with_some_unknown_keys_is_refused(tmp_path):
    pipe = build_tiny_pipeline(seed=0)
    _lightx2v_lora(pipe.transformer, tmp_path / "extra.safetensors")
    state = load_file(str(tmp_path / "extra.safetensors"))
    state = {
        k.replace("diffusion_model.", "transformer.", 1): v for k, v in pipe.lora_state_dict(state).items()
    }
    save_file(
        state | {"transformer.blocks.0.attn3.to_q.lora_A.weight": torch.zeros(4, 8)},
        str(tmp_path / "x.safetensors"),
    )
    with pytest.raises(LoraError, match=r"has 1 of \d+ keys that match no module"):
        load_loras(pipe, [str(tmp_path / "x.safetensors")])


def test_lora_files_are_checked_before_the_model_loads(tmp_path):
    with pytest.raises(LoraError, match="not found"):
        check_lora_file(tmp_path / "missing.safetensors")
    (tmp_path / "lora.pt").write_bytes(b"\x80\x04")
    with pytest.raises(LoraError, match="pickle"):
        check_lora_file(tmp_path / "lora.pt")
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(LoraError, match="not a safetensors file"):
        check_lora_file(tmp_path / "junk.safetensors")
    assert parse_lora_spec("a/b.safetensors:0.8") == LoraSpec(Path("a/b.safetensors"), 0.8)
    assert parse_lora_spec("c:/b.safetensors") == LoraSpec(Path("c:/b.safetensors"), 1.0)
