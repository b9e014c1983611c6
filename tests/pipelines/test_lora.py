"""LoRA files for the Wan2.1 transformer load into AnimateXPipeline through diffusers' loader (issue #21)."""

from __future__ import annotations

import numpy as np
import torch
from safetensors.torch import save_file

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
