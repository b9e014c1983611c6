"""GGUF-quantised transformers (issue #21): `animatex quantize` writes Wan's original layout, `load_pipeline(...,
transformer_gguf=)` loads it (or a base Wan2.1 file written directly with gguf-py) with the folder's pose modules;
every pose input still acts and the output stays within each type's error of the plain run."""

from __future__ import annotations

import logging

import gguf
import numpy as np
import pytest
import torch
from diffusers.quantizers.gguf.utils import GGUFLinear

from animatex.animate import load_pipeline
from animatex.convert import original_layouts as layouts
from animatex.convert.gguf import (
    check_gguf_options,
    load_gguf_transformer,
    quantisable_keys,
    write_transformer_gguf,
)
from animatex.convert.wan import wan_dit_key, wan_original_dit_key
from animatex.errors import AnimatexError
from animatex.models.presets import build_transformer
from animatex.models.transformer_animatex import POSE_MODULES
from animatex.pipelines.memory import MemoryModeError
from animatex.pipelines.tiny import build_tiny_pipeline

# The tiny preset at width 32: GGUF quantises rows in blocks of 32 weights, the tiny preset's 24 would leave most
# linear layers unquantised.
WIDTH_32 = {"attention_head_dim": 16, "added_kv_proj_dim": 32}
POSE_INPUTS = ("pose_video", "ref_pose", "driving_video", "pose_keypoints")
# Type -> (statistic, bound) of |output - plain fp32 run| on this tiny random model, 2 steps, [0, 1] pixels.
# Measured: Q8_0 mean 1.1e-6, max 2.7e-5; Q4_0 mean 4.6e-5, max 1.2e-3 (fp8 on the same model: max 3.2e-4).
BOUNDS = {"Q8_0": ("max", 3e-4), "Q4_0": ("max", 1e-2)}


def _run(pipe, inputs, steps: int = 2):
    return pipe(**inputs, num_inference_steps=steps, generator=torch.Generator().manual_seed(0)).frames


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A saved width-32 tiny pipeline, its plain output, and its transformer as Q8_0 and Q4_0 GGUF files."""
    root = tmp_path_factory.mktemp("gguf")
    pipe = build_tiny_pipeline(seed=0, **WIDTH_32)
    pipe.save_pretrained(root / "model")
    files = {
        qtype: write_transformer_gguf(root / "model", root / f"dit-{qtype}.gguf", qtype) for qtype in BOUNDS
    }
    return root, files


@pytest.fixture
def plain(folder, make_inputs):
    """The plain fp32 run of the folder (computed once per module)."""
    if folder[0] not in _PLAIN:
        pipe = load_pipeline(folder[0] / "model")
        pipe.set_progress_bar_config(disable=True)
        _PLAIN[folder[0]] = _run(pipe, make_inputs(9, 32, 32))
    return _PLAIN[folder[0]]


_PLAIN: dict = {}


def _gguf_pipe(model, path, **kwargs):
    pipe = load_pipeline(model, transformer_gguf=path, **kwargs)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_written_file_is_in_wan_original_layout(folder):
    root, files = folder
    summary = files["Q8_0"]
    reader = gguf.GGUFReader(summary.path)
    types = {tensor.name: tensor.tensor_type.name for tensor in reader.tensors}
    assert types["blocks.0.self_attn.q.weight"] == "Q8_0"
    assert types["blocks.1.cross_attn.k_img.weight"] == "Q8_0"
    assert types["blocks.0.ffn.0.weight"] == "Q8_0"
    for kept in ("blocks.0.self_attn.q.bias", "blocks.0.norm3.weight", "blocks.0.modulation", "head.modulation",
                 "patch_embedding.weight", "pose_guider.convs.0.weight", "pose_indicator.proj_out.weight"):  # fmt: skip
        assert types[kept] == "F32", kept
    assert not any(name.startswith(("attn1", "condition_embedder")) or ".attn1." in name for name in types)
    assert summary.quantised == sum(kind == "Q8_0" for kind in types.values()) > 0
    assert summary.kept + summary.quantised == len(types)
    assert reader.fields["general.architecture"].contents() == "wan"


@pytest.mark.parametrize("qtype", list(BOUNDS))
def test_gguf_transformer_keeps_the_output_and_every_pose_input(folder, plain, make_inputs, qtype, caplog):
    root, files = folder
    with caplog.at_level(logging.INFO, logger="animatex"):
        pipe = _gguf_pipe(root / "model", files[qtype].path)
    assert "animatex" not in caplog.text  # the file holds everything, pose modules included: no note
    layer = pipe.transformer.blocks[0].attn1.to_q
    assert isinstance(layer, GGUFLinear) and layer.weight.quant_type.name == qtype
    assert pipe.transformer.pose_guider.convs[0].weight.dtype == torch.float32
    inputs = make_inputs(9, 32, 32)
    out = _run(pipe, inputs)
    statistic, bound = BOUNDS[qtype]
    error = getattr(np.abs(out - plain), statistic)()
    assert 0 < error <= bound
    other = make_inputs(9, 32, 32, seed=1)
    for name in POSE_INPUTS:
        assert not np.array_equal(_run(pipe, {**inputs, name: other[name]}), out), f"{name} has no effect"


def test_hooks_apply_to_the_gguf_transformer(folder, make_inputs):
    from animatex.pipelines.speed import enable_step_cache

    root, files = folder
    inputs = make_inputs(9, 32, 32)
    reference = _run(_gguf_pipe(root / "model", files["Q8_0"].path), inputs, steps=4)
    offloaded = _gguf_pipe(root / "model", files["Q8_0"].path, memory="group-offload")
    np.testing.assert_array_equal(_run(offloaded, inputs, steps=4), reference)
    cached = _gguf_pipe(root / "model", files["Q8_0"].path)
    enable_step_cache(cached, "fbc:0.5", 4)
    out = _run(cached, inputs, steps=4)
    assert 0 < np.abs(out - reference).mean() < 0.1  # blocks were skipped, the result is close


def _write_like_city96(path, tensors: dict[str, torch.Tensor]) -> None:
    """A GGUF file written with gguf-py alone, as the community's Wan files store tensors: 2-D block weights in
    Q8_0, everything else in float32."""
    writer = gguf.GGUFWriter(path, arch="wan")
    for name, tensor in tensors.items():
        data, raw_dtype = tensor.float().numpy(), None
        if ".blocks." in f".{name}" and data.ndim == 2 and data.shape[1] % 32 == 0:
            raw_dtype = gguf.GGMLQuantizationType.Q8_0
            data = gguf.quants.quantize(data, raw_dtype)
        writer.add_tensor(name, data, raw_dtype=raw_dtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_base_wan_gguf_from_gguf_py_with_the_lora_unmerged(tmp_path, make_inputs, caplog):
    """A base Wan2.1 file written with gguf-py alone (original names, no pose modules, no animatex code) plus a
    LoRA loaded as a PEFT adapter matches the merged fp32 model: what 12-16 GB users have (docs/weights.md)."""
    pipe = build_tiny_pipeline(seed=0, **WIDTH_32)
    pipe.save_pretrained(tmp_path / "model")  # the folder: pose modules (and the base DiT, unused here)
    state = pipe.transformer.state_dict()
    original = layouts.WanModelOriginal(
        dim=32, ffn_dim=32, text_dim=32, image_dim=4, num_heads=2, num_layers=2
    )
    base = {
        key: state[wan_dit_key(key)] for key in original.state_dict()
    }  # Wan's own names, the same weights
    _write_like_city96(tmp_path / "wan-base-Q8_0.gguf", base)

    lora = {}
    for index in range(2):
        for module in ("attn1.to_q", "attn2.to_v", "ffn.net.0.proj"):
            layer = pipe.transformer.blocks[index].get_submodule(module)
            lora[f"transformer.blocks.{index}.{module}.lora_A.weight"] = (
                torch.randn(4, layer.in_features) * 0.5
            )
            lora[f"transformer.blocks.{index}.{module}.lora_B.weight"] = (
                torch.randn(layer.out_features, 4) * 0.5
            )
    merged = {
        key.removeprefix("transformer.").replace("lora_A.weight", "weight"): None
        for key in lora
        if "lora_A" in key
    }
    with torch.no_grad():
        for key in merged:
            down, up = (
                lora[f"transformer.{key.replace('weight', 'lora_A.weight')}"],
                lora[f"transformer.{key.replace('weight', 'lora_B.weight')}"],
            )
            pipe.transformer.get_parameter(key).add_(up @ down)  # the official merge: W += B @ A, scale 1
    pipe.set_progress_bar_config(disable=True)
    inputs = make_inputs(9, 32, 32)
    merged_plain = _run(pipe, inputs)

    with caplog.at_level(logging.INFO, logger="animatex"):
        gguf_pipe = _gguf_pipe(tmp_path / "model", tmp_path / "wan-base-Q8_0.gguf")
    assert "holds no pose modules" in caplog.text and "lacks the Animate-X++ LoRA" in caplog.text
    assert "pose modules pose_guider, pose_indicator, ref_pose_encoder from" in caplog.text
    assert isinstance(gguf_pipe.transformer.blocks[0].attn1.to_q, GGUFLinear)
    gguf_pipe.load_lora_weights(lora, adapter_name="animatex")
    out = _run(gguf_pipe, inputs)
    assert np.abs(out - merged_plain).max() <= BOUNDS["Q8_0"][1]  # measured 2.6e-5 (mean 1.6e-6)
    gguf_pipe.set_adapters("animatex", 0.0)
    # Without the adapter the base model is further off (measured mean 0.011): the LoRA is what matches.
    assert np.abs(_run(gguf_pipe, inputs) - merged_plain).mean() > 100 * np.abs(out - merged_plain).mean()
    gguf_pipe.set_adapters("animatex", 1.0)
    other = make_inputs(9, 32, 32, seed=1)
    for name in POSE_INPUTS:
        assert not np.array_equal(_run(gguf_pipe, {**inputs, name: other[name]}), out), (
            f"{name} has no effect"
        )


@pytest.mark.parametrize("layout", ["diffusers", "prefixed original"])
def test_other_key_layouts_load_the_same_transformer(folder, tmp_path, make_inputs, layout):
    """The same weights in diffusers' names, or Wan's with `model.diffusion_model.` in front (written with gguf-py
    alone, pose modules left to the folder), load into the transformer our writer's file gives."""
    root, files = folder
    state = load_pipeline(root / "model").transformer.state_dict()
    path = tmp_path / f"{layout.replace(' ', '-')}.gguf"
    prefix, name = ("", str) if layout == "diffusers" else ("model.diffusion_model.", wan_original_dit_key)
    tensors = {
        f"{prefix}{name(key)}": value for key, value in state.items() if key.split(".")[0] not in POSE_MODULES
    }
    _write_like_city96(path, tensors)
    inputs = make_inputs(9, 32, 32)
    ours = _run(_gguf_pipe(root / "model", files["Q8_0"].path), inputs)
    np.testing.assert_array_equal(_run(_gguf_pipe(root / "model", path), inputs), ours)


def test_quantisable_keys_skip_pose_modules_and_float32_modules():
    model = build_transformer("tiny", **WIDTH_32)
    keys = quantisable_keys(model)
    assert "blocks.0.attn1.to_q.weight" in keys and "blocks.1.ffn.net.2.weight" in keys
    assert not any(key.split(".")[0] in POSE_MODULES for key in keys)
    assert not any(key.startswith(("condition_embedder", "proj_out")) or "norm" in key for key in keys)
    assert keys == {key for key in keys if key.startswith("blocks.") and key.endswith(".weight")}
    assert len(keys) == 2 * 12  # every block's attention (4 + 4 + the image K/V) and FFN linear layers


# ---- bad files --------------------------------------------------------------------------------------------
def test_a_file_that_is_not_gguf_is_refused(folder, tmp_path):
    (tmp_path / "notes.gguf").write_text("not a gguf file\n")
    with pytest.raises(AnimatexError, match=r"notes.gguf is not a GGUF file"):
        load_gguf_transformer(tmp_path / "notes.gguf", folder[0] / "model")
    with pytest.raises(AnimatexError, match="GGUF file not found"):
        load_gguf_transformer(tmp_path / "missing.gguf", folder[0] / "model")


def test_a_gguf_of_another_size_names_the_tensor_and_both_shapes(folder, tmp_path):
    root, files = folder
    build_tiny_pipeline(seed=0, **{**WIDTH_32, "ffn_dim": 64}).save_pretrained(tmp_path / "wider")
    with pytest.raises(AnimatexError) as error:
        load_gguf_transformer(files["Q8_0"].path, tmp_path / "wider")
    message = str(error.value)
    assert "tensor blocks.0.ffn.net.0.proj.weight is [32, 32]" in message and "needs [64, 32]" in message
    assert "\n" not in message


def test_missing_gguf_package_says_how_to_install(folder, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "gguf", None)  # import gguf -> ImportError
    with pytest.raises(AnimatexError, match=r"need the gguf package: pip install gguf"):
        load_gguf_transformer(folder[1]["Q8_0"].path, folder[0] / "model")


def test_fp8_and_gguf_are_refused_together(folder):
    with pytest.raises(MemoryModeError, match="fp8 and a GGUF transformer"):
        check_gguf_options(folder[1]["Q8_0"].path, "fp8+group-offload")


def test_writer_refuses_overwrites_bad_types_and_names(folder, tmp_path):
    root, files = folder
    with pytest.raises(AnimatexError, match="already exists; pass --overwrite"):
        write_transformer_gguf(root / "model", files["Q8_0"].path)
    with pytest.raises(AnimatexError, match="choose one of Q8_0, Q4_0"):
        write_transformer_gguf(root / "model", tmp_path / "t.gguf", "Q3_K")
    with pytest.raises(AnimatexError, match=r"name the GGUF file \*\.gguf"):
        write_transformer_gguf(root / "model", tmp_path / "t.bin")
    assert not list(tmp_path.iterdir())
    before = files["Q4_0"].path.read_bytes()
    write_transformer_gguf(root / "model", files["Q4_0"].path, "Q4_0", overwrite=True)
    assert files["Q4_0"].path.read_bytes() == before  # deterministic


@pytest.mark.parametrize("qtype", list(BOUNDS))
def test_planner_predicts_the_gguf_transformer_bytes(folder, qtype):
    from animatex.pipelines.plan import Workload, model_sizes, plan_modes

    root, files = folder
    loaded = load_gguf_transformer(files[qtype].path, root / "model")
    plain = load_pipeline(root / "model").transformer
    measured = sum(p.numel() * p.element_size() for p in loaded.parameters())
    plain_bytes = sum(p.numel() * p.element_size() for p in plain.parameters())
    sizes = model_sizes(root / "model")
    mode = f"gguf-{qtype.lower()}"
    modes = ["none", mode, "group-offload", f"{mode}+group-offload"]
    plans = plan_modes(sizes, Workload(32, 32, 9), modes, "fp32")
    assert plans[0].weights_bytes - plans[1].weights_bytes == plain_bytes - measured > 0
    assert plans[3].weights_bytes < plans[2].weights_bytes  # the offloaded blocks are GGUF-sized too
    with pytest.raises(MemoryModeError, match="fp8 and a GGUF"):
        plan_modes(sizes, Workload(32, 32, 9), [f"fp8+{mode}"], "fp32")


def test_lora_on_a_gguf_transformer_stays_unmerged_and_acts(folder, tmp_path, make_inputs):
    """`load_pipeline(lora=...)` with a GGUF transformer: the adapter runs beside the quantised layers (no merge
    into them) and gives the output of the same LoRA merged into the fp32 model, within the Q8_0 error."""
    from safetensors.torch import save_file

    from animatex.pipelines.lora import load_loras

    root, files = folder
    reference = load_pipeline(root / "model")
    g = torch.Generator().manual_seed(0)
    lora = {}
    for index, block in enumerate(reference.transformer.blocks):
        layer = block.ffn.net[2]
        lora[f"transformer.blocks.{index}.ffn.net.2.lora_A.weight"] = torch.randn(
            4, layer.in_features, generator=g
        )
        lora[f"transformer.blocks.{index}.ffn.net.2.lora_B.weight"] = torch.randn(
            layer.out_features, 4, generator=g
        )
    save_file(lora, str(tmp_path / "ffn.safetensors"))
    inputs = make_inputs(9, 32, 32)
    pipe = _gguf_pipe(root / "model", files["Q8_0"].path, lora=[str(tmp_path / "ffn.safetensors")])
    assert isinstance(pipe.transformer.blocks[0].ffn.net[2].base_layer, GGUFLinear)
    load_loras(reference, [str(tmp_path / "ffn.safetensors")])
    reference.set_progress_bar_config(disable=True)
    expected = _run(reference, inputs)
    assert np.abs(expected - _run(_gguf_pipe(root / "model", files["Q8_0"].path), inputs)).max() > 1e-2
    np.testing.assert_allclose(_run(pipe, inputs), expected, atol=BOUNDS["Q8_0"][1])
