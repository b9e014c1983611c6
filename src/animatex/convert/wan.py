"""Wan2.1 original layout -> diffusers / transformers names: DiT, VAE, umT5 encoder and CLIP image encoder.

Every function here builds a `ConversionPlan` from the keys actually present in a source file, so an unknown
or missing key shows up in `check_plan` instead of being silently skipped.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import torch

from animatex.convert.core import ConversionPlan
from animatex.errors import AnimatexError

# ----------------------------------------------------------------------------------------------------------
# DiT
# ----------------------------------------------------------------------------------------------------------

# Modules inside `blocks.N.` (original -> diffusers). The original calls its norms norm1 / norm3 (cross-attn,
# affine) / norm2 (FFN, no parameters); diffusers orders them norm1 / norm2 / norm3, so only norm3 -> norm2
# carries weights.
_DIT_BLOCK_MODULES = {
    "self_attn.q": "attn1.to_q",
    "self_attn.k": "attn1.to_k",
    "self_attn.v": "attn1.to_v",
    "self_attn.o": "attn1.to_out.0",
    "self_attn.norm_q": "attn1.norm_q",
    "self_attn.norm_k": "attn1.norm_k",
    "cross_attn.q": "attn2.to_q",
    "cross_attn.k": "attn2.to_k",
    "cross_attn.v": "attn2.to_v",
    "cross_attn.o": "attn2.to_out.0",
    "cross_attn.norm_q": "attn2.norm_q",
    "cross_attn.norm_k": "attn2.norm_k",
    "cross_attn.k_img": "attn2.add_k_proj",
    "cross_attn.v_img": "attn2.add_v_proj",
    "cross_attn.norm_k_img": "attn2.norm_added_k",
    "norm3": "norm2",
    "ffn.0": "ffn.net.0.proj",
    "ffn.2": "ffn.net.2",
}
_DIT_TOP_MODULES = {
    "patch_embedding": "patch_embedding",
    "text_embedding.0": "condition_embedder.text_embedder.linear_1",
    "text_embedding.2": "condition_embedder.text_embedder.linear_2",
    "time_embedding.0": "condition_embedder.time_embedder.linear_1",
    "time_embedding.2": "condition_embedder.time_embedder.linear_2",
    "time_projection.1": "condition_embedder.time_proj",
    "img_emb.proj.0": "condition_embedder.image_embedder.norm1",
    "img_emb.proj.1": "condition_embedder.image_embedder.ff.net.0.proj",
    "img_emb.proj.3": "condition_embedder.image_embedder.ff.net.2",
    "img_emb.proj.4": "condition_embedder.image_embedder.norm2",
    "head.head": "proj_out",
}
_BLOCK_KEY = re.compile(r"^blocks\.(\d+)\.(.+)\.(weight|bias)$")  # the same pattern in both layouts
_DIT_BLOCK_ORIGINAL = {ours: original for original, ours in _DIT_BLOCK_MODULES.items()}
_DIT_TOP_ORIGINAL = {ours: original for original, ours in _DIT_TOP_MODULES.items()}


# The modulation tensors, by name in (original, diffusers) layout: the head's, and each block's after "blocks.N.".
_HEAD_MODULATION = ("head.modulation", "scale_shift_table")
_BLOCK_MODULATION = ("modulation", "scale_shift_table")


def _rename_dit_key(key: str, blocks: Mapping[str, str], top: Mapping[str, str], side: int) -> str | None:
    """One DiT tensor name through one direction's tables; `side` 0 reads original names, 1 diffusers names."""
    if key == _HEAD_MODULATION[side]:
        return _HEAD_MODULATION[1 - side]
    match = re.fullmatch(rf"blocks\.(\d+)\.{_BLOCK_MODULATION[side]}", key)
    if match:
        return f"blocks.{match.group(1)}.{_BLOCK_MODULATION[1 - side]}"
    match = _BLOCK_KEY.match(key)
    if match:
        index, module, leaf = match.groups()
        return f"blocks.{index}.{blocks[module]}.{leaf}" if module in blocks else None
    module, _, leaf = key.rpartition(".")
    if leaf in ("weight", "bias") and module in top:
        return f"{top[module]}.{leaf}"
    return None


def wan_dit_key(key: str) -> str | None:
    """Diffusers name of one original DiT tensor, or None when the name is not part of the layout."""
    return _rename_dit_key(key, _DIT_BLOCK_MODULES, _DIT_TOP_MODULES, side=0)


def wan_original_dit_key(key: str) -> str | None:
    """Original name of one diffusers DiT tensor (the inverse of `wan_dit_key`), None outside the layout."""
    return _rename_dit_key(key, _DIT_BLOCK_ORIGINAL, _DIT_TOP_ORIGINAL, side=1)


def wan_dit_plan(source_keys: Iterable[str]) -> ConversionPlan:
    """Plan for the DiT shards; keys outside the layout stay unconsumed so `check_plan` reports them."""
    plan = ConversionPlan()
    for key in source_keys:
        target = wan_dit_key(key)
        if target is not None:
            plan.add(target, key)
    return plan


def wan_dit_config(
    shapes: Mapping[str, torch.Size], original_config: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """WanTransformer3DModel config read off the original tensors (and the original config.json when present)."""
    try:
        patch = shapes["patch_embedding.weight"]
        dim, in_dim, patch_size = patch[0], patch[1], list(patch[2:])
        num_layers = 1 + max(int(k.split(".")[1]) for k in shapes if k.startswith("blocks."))
        ffn_dim = shapes["blocks.0.ffn.0.weight"][0]
        text_dim = shapes["text_embedding.0.weight"][1]
        freq_dim = shapes["time_embedding.0.weight"][1]
        out_dim = shapes["head.head.weight"][0] // math.prod(patch_size)
        image_dim = shapes["img_emb.proj.1.weight"][1] if "img_emb.proj.1.weight" in shapes else None
    except (KeyError, ValueError) as error:
        raise AnimatexError(f"the DiT files lack a tensor of the Wan2.1 layout ({error})") from error
    # Wan uses 128-channel heads in every released size (1.3B: 12 heads, 14B: 40); config.json says so too.
    num_heads = int((original_config or {}).get("num_heads", dim // 128))
    return {
        "patch_size": patch_size,
        "num_attention_heads": num_heads,
        "attention_head_dim": dim // num_heads,
        "in_channels": in_dim,
        "out_channels": out_dim,
        "text_dim": text_dim,
        "freq_dim": freq_dim,
        "ffn_dim": ffn_dim,
        "num_layers": num_layers,
        "cross_attn_norm": "blocks.0.norm3.weight" in shapes,
        "qk_norm": "rms_norm_across_heads",
        "eps": float((original_config or {}).get("eps", 1e-6)),
        "image_dim": image_dim,
        "added_kv_proj_dim": dim if image_dim is not None else None,
        "rope_max_seq_len": 1024,
    }


# ----------------------------------------------------------------------------------------------------------
# VAE
# ----------------------------------------------------------------------------------------------------------

_RESIDUAL_PARTS = {
    "residual.0.gamma": "norm1.gamma",
    "residual.2.weight": "conv1.weight",
    "residual.2.bias": "conv1.bias",
    "residual.3.gamma": "norm2.gamma",
    "residual.6.weight": "conv2.weight",
    "residual.6.bias": "conv2.bias",
    "shortcut.weight": "conv_shortcut.weight",
    "shortcut.bias": "conv_shortcut.bias",
}
_VAE_FIXED = {
    "conv1.weight": "quant_conv.weight",
    "conv1.bias": "quant_conv.bias",
    "conv2.weight": "post_quant_conv.weight",
    "conv2.bias": "post_quant_conv.bias",
}


def _vae_part(rest: str) -> str | None:
    """Rename inside one residual / attention / resample module."""
    if rest in _RESIDUAL_PARTS:
        return _RESIDUAL_PARTS[rest]
    if rest.split(".")[0] in ("resample", "time_conv", "norm", "to_qkv", "proj"):
        return rest
    return None


def wan_vae_plan(source_keys: Iterable[str]) -> ConversionPlan:
    """Plan for `Wan2.1_VAE.pth` -> AutoencoderKLWan.

    Decoder `upsamples` is a flat Sequential of (num_res_blocks + 1) residual blocks followed by one resample
    per level; diffusers groups them as `up_blocks.L.resnets.R` / `up_blocks.L.upsamplers.0`. The grouping is
    read off the keys (an index holding `resample.`/`time_conv.` closes a level), so any config converts.
    """
    keys = list(source_keys)
    up_indices = sorted({int(k.split(".")[2]) for k in keys if k.startswith("decoder.upsamples.")})
    resample_indices = {
        int(k.split(".")[2])
        for k in keys
        if k.startswith("decoder.upsamples.") and (".resample." in k or ".time_conv." in k)
    }
    up_names, level, resnet = {}, 0, 0
    for index in up_indices:
        if index in resample_indices:
            up_names[index] = f"up_blocks.{level}.upsamplers.0"
            level, resnet = level + 1, 0
        else:
            up_names[index] = f"up_blocks.{level}.resnets.{resnet}"
            resnet += 1

    plan = ConversionPlan()
    for key in keys:
        target = None
        if key in _VAE_FIXED:
            target = _VAE_FIXED[key]
        elif (match := re.fullmatch(r"(encoder|decoder)\.conv1\.(weight|bias)", key)) is not None:
            target = f"{match.group(1)}.conv_in.{match.group(2)}"
        elif (
            match := re.fullmatch(r"(encoder|decoder)\.head\.([02])\.(gamma|weight|bias)", key)
        ) is not None:
            target = (
                f"{match.group(1)}.{'norm_out' if match.group(2) == '0' else 'conv_out'}.{match.group(3)}"
            )
        elif (match := re.fullmatch(r"(encoder|decoder)\.middle\.(\d+)\.(.+)", key)) is not None:
            side, index, rest = match.group(1), int(match.group(2)), match.group(3)
            part = _vae_part(rest)
            if part is not None:
                module = "attentions.0" if index == 1 else f"resnets.{index // 2}"
                target = f"{side}.mid_block.{module}.{part}"
        elif (match := re.fullmatch(r"encoder\.downsamples\.(\d+)\.(.+)", key)) is not None:
            part = _vae_part(match.group(2))
            target = None if part is None else f"encoder.down_blocks.{match.group(1)}.{part}"
        elif (match := re.fullmatch(r"decoder\.upsamples\.(\d+)\.(.+)", key)) is not None:
            part = _vae_part(match.group(2))
            target = None if part is None else f"decoder.{up_names[int(match.group(1))]}.{part}"
        if target is not None:
            plan.add(target, key)
    return plan


def wan_vae_config(shapes: Mapping[str, torch.Size]) -> dict[str, Any]:
    """AutoencoderKLWan config read off the original VAE tensors."""
    base_dim = shapes["encoder.conv1.weight"][0]
    z_dim = shapes["conv2.weight"][0]
    down = sorted({int(k.split(".")[2]) for k in shapes if k.startswith("encoder.downsamples.")})
    widths, temporal, num_res_blocks, count = [], [], 0, 0
    for index in down:
        prefix = f"encoder.downsamples.{index}."
        if f"{prefix}residual.2.weight" in shapes:
            count += 1
            if not widths or count == 1:
                widths.append(shapes[f"{prefix}residual.2.weight"][0])
        else:
            temporal.append(f"{prefix}time_conv.weight" in shapes)
            num_res_blocks, count = count, 0
    num_res_blocks = num_res_blocks or count
    return {
        "base_dim": base_dim,
        "z_dim": z_dim,
        "dim_mult": [w // base_dim for w in widths],
        "num_res_blocks": num_res_blocks,
        "attn_scales": [],
        "temperal_downsample": temporal,
        "dropout": 0.0,
    }


# ----------------------------------------------------------------------------------------------------------
# umT5-XXL text encoder
# ----------------------------------------------------------------------------------------------------------

_T5_BLOCK = {
    "norm1.weight": "layer.0.layer_norm.weight",
    "attn.q.weight": "layer.0.SelfAttention.q.weight",
    "attn.k.weight": "layer.0.SelfAttention.k.weight",
    "attn.v.weight": "layer.0.SelfAttention.v.weight",
    "attn.o.weight": "layer.0.SelfAttention.o.weight",
    "pos_embedding.embedding.weight": "layer.0.SelfAttention.relative_attention_bias.weight",
    "norm2.weight": "layer.1.layer_norm.weight",
    "ffn.gate.0.weight": "layer.1.DenseReluDense.wi_0.weight",  # the GELU-gated branch
    "ffn.fc1.weight": "layer.1.DenseReluDense.wi_1.weight",
    "ffn.fc2.weight": "layer.1.DenseReluDense.wo.weight",
}


def umt5_plan(source_keys: Iterable[str]) -> ConversionPlan:
    """Plan for `models_t5_umt5-xxl-enc-bf16.pth` -> transformers UMT5EncoderModel (embed_tokens is tied to shared)."""
    plan = ConversionPlan()
    for key in source_keys:
        if key == "token_embedding.weight":
            plan.add("shared.weight", key)
        elif key == "norm.weight":
            plan.add("encoder.final_layer_norm.weight", key)
        elif (match := re.fullmatch(r"blocks\.(\d+)\.(.+)", key)) is not None and match.group(2) in _T5_BLOCK:
            plan.add(f"encoder.block.{match.group(1)}.{_T5_BLOCK[match.group(2)]}", key)
    return plan


def umt5_config(shapes: Mapping[str, torch.Size], num_heads: int = 64) -> dict[str, Any]:
    """UMT5Config kwargs of the umT5-XXL encoder (google/umt5-xxl's published hyper-parameters)."""
    vocab, dim = shapes["token_embedding.weight"]
    num_layers = 1 + max(int(k.split(".")[1]) for k in shapes if k.startswith("blocks."))
    return {
        "vocab_size": vocab,
        "d_model": dim,
        "d_kv": shapes["blocks.0.attn.q.weight"][0] // num_heads,
        "d_ff": shapes["blocks.0.ffn.fc1.weight"][0],
        "num_layers": num_layers,
        "num_decoder_layers": num_layers,
        "num_heads": num_heads,
        "relative_attention_num_buckets": shapes["blocks.0.pos_embedding.embedding.weight"][0],
        "relative_attention_max_distance": 128,
        "feed_forward_proj": "gated-gelu",
        "layer_norm_epsilon": 1e-6,
        "tie_word_embeddings": False,
        "scalable_attention": True,
        "dropout_rate": 0.1,
    }


# ----------------------------------------------------------------------------------------------------------
# CLIP vision towers -> transformers CLIPVision*
# ----------------------------------------------------------------------------------------------------------


def _chunk(index: int):
    def take(tensor: torch.Tensor) -> torch.Tensor:
        return tensor.chunk(3, dim=0)[index]

    return take


def _transpose(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.t()


def _add_qkv(plan: ConversionPlan, target_layer: str, weight_key: str, bias_key: str) -> None:
    for index, name in enumerate(("q_proj", "k_proj", "v_proj")):
        plan.add(f"{target_layer}.self_attn.{name}.weight", weight_key, transform=_chunk(index))
        plan.add(f"{target_layer}.self_attn.{name}.bias", bias_key, transform=_chunk(index))


_WAN_CLIP_LAYER = {
    "norm1": "layer_norm1",
    "attn.proj": "self_attn.out_proj",
    "norm2": "layer_norm2",
    "mlp.0": "mlp.fc1",
    "mlp.2": "mlp.fc2",
}


def wan_clip_plan(source_keys: Iterable[str], with_projection: bool = False) -> ConversionPlan:
    """Plan for Wan's `models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth` -> CLIPVisionModel.

    Wan feeds its DiT the penultimate-layer tokens, so the pooled projection `visual.head` is only kept when a
    CLIPVisionModelWithProjection is asked for. The XLM-R text tower is never used by image-to-video.
    """
    plan = ConversionPlan()
    vision = "vision_model"
    for key in source_keys:
        if key.startswith("textual.") or key == "log_scale":
            plan.dropped[key] = "XLM-RoBERTa text tower: image-to-video encodes text with umT5"
        elif key == "visual.patch_embedding.weight":
            plan.add(f"{vision}.embeddings.patch_embedding.weight", key)
        elif key == "visual.cls_embedding":
            plan.add(f"{vision}.embeddings.class_embedding", key, transform=lambda t: t.reshape(-1))
        elif key == "visual.pos_embedding":
            plan.add(
                f"{vision}.embeddings.position_embedding.weight",
                key,
                transform=lambda t: t.reshape(-1, t.shape[-1]),
            )
        elif (match := re.fullmatch(r"visual\.(pre_norm|post_norm)\.(weight|bias)", key)) is not None:
            name = "pre_layrnorm" if match.group(1) == "pre_norm" else "post_layernorm"
            plan.add(f"{vision}.{name}.{match.group(2)}", key)
        elif key == "visual.head":
            if with_projection:
                plan.add("visual_projection.weight", key, transform=_transpose)
            else:
                plan.dropped[key] = "pooled projection: Wan conditions on penultimate-layer tokens"
        elif (match := re.fullmatch(r"visual\.transformer\.(\d+)\.(.+)\.(weight|bias)", key)) is not None:
            index, module, leaf = match.groups()
            layer = f"{vision}.encoder.layers.{index}"
            if module == "attn.to_qkv":
                if leaf == "weight":
                    _add_qkv(plan, layer, key, key.replace(".weight", ".bias"))
            elif module in _WAN_CLIP_LAYER:
                plan.add(f"{layer}.{_WAN_CLIP_LAYER[module]}.{leaf}", key)
    return plan


_OPENCLIP_LAYER = {
    "ln_1": "layer_norm1",
    "attn.out_proj": "self_attn.out_proj",
    "ln_2": "layer_norm2",
    "mlp.c_fc": "mlp.fc1",
    "mlp.c_proj": "mlp.fc2",
}


def openclip_vision_plan(source_keys: Iterable[str]) -> ConversionPlan:
    """Plan for OpenCLIP ViT-H-14 `open_clip_pytorch_model.bin` -> CLIPVisionModelWithProjection."""
    plan = ConversionPlan()
    vision = "vision_model"
    for key in source_keys:
        if not key.startswith("visual."):
            plan.dropped[key] = "OpenCLIP text tower: the IPI encodes only driving frames"
        elif key == "visual.conv1.weight":
            plan.add(f"{vision}.embeddings.patch_embedding.weight", key)
        elif key == "visual.class_embedding":
            plan.add(f"{vision}.embeddings.class_embedding", key)
        elif key == "visual.positional_embedding":
            plan.add(f"{vision}.embeddings.position_embedding.weight", key)
        elif key == "visual.proj":
            plan.add("visual_projection.weight", key, transform=_transpose)
        elif (match := re.fullmatch(r"visual\.(ln_pre|ln_post)\.(weight|bias)", key)) is not None:
            name = "pre_layrnorm" if match.group(1) == "ln_pre" else "post_layernorm"
            plan.add(f"{vision}.{name}.{match.group(2)}", key)
        elif (match := re.fullmatch(r"visual\.transformer\.resblocks\.(\d+)\.(.+)", key)) is not None:
            index, rest = match.groups()
            layer = f"{vision}.encoder.layers.{index}"
            if rest == "attn.in_proj_weight":
                _add_qkv(plan, layer, key, key.replace("in_proj_weight", "in_proj_bias"))
            elif rest != "attn.in_proj_bias":
                module, _, leaf = rest.rpartition(".")
                if module in _OPENCLIP_LAYER:
                    plan.add(f"{layer}.{_OPENCLIP_LAYER[module]}.{leaf}", key)
    return plan


def clip_vision_config(shapes: Mapping[str, torch.Size], layout: str, num_heads: int = 16) -> dict[str, Any]:
    """CLIPVisionConfig kwargs for a ViT read off its tensors; layout is "wan" or "openclip"."""
    if layout == "wan":
        patch = shapes["visual.patch_embedding.weight"]
        positions = shapes["visual.pos_embedding"][-2]
        layers = 1 + max(int(k.split(".")[2]) for k in shapes if k.startswith("visual.transformer."))
        mlp = shapes["visual.transformer.0.mlp.0.weight"][0]
        projection = shapes["visual.head"][1]
    else:
        patch = shapes["visual.conv1.weight"]
        positions = shapes["visual.positional_embedding"][0]
        layers = 1 + max(
            int(k.split(".")[3]) for k in shapes if k.startswith("visual.transformer.resblocks.")
        )
        mlp = shapes["visual.transformer.resblocks.0.mlp.c_fc.weight"][0]
        projection = shapes["visual.proj"][1]
    hidden, patch_size = patch[0], patch[-1]
    grid = math.isqrt(positions - 1)
    return {
        "hidden_size": hidden,
        "intermediate_size": mlp,
        "projection_dim": projection,
        "num_hidden_layers": layers,
        "num_attention_heads": num_heads,
        "image_size": grid * patch_size,
        "patch_size": patch_size,
        "hidden_act": "gelu",
        "layer_norm_eps": 1e-5,
    }
