"""Full-size key/shape manifests of every source layout and conversion target, built on the meta device.

No memory is allocated and nothing is downloaded: the source manifests come from the module definitions in
`original_layouts`, the targets from diffusers / transformers / animatex classes with the released configs.
`verify_layouts` runs every converter's plan against them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from animatex.convert import original_layouts as layouts
from animatex.convert.animatex_ckpt import animatex_pose_plan, ipi_gaps, parse_official_lora
from animatex.convert.core import ConversionPlan, PlanReport, check_plan, meta_manifest
from animatex.convert.wan import (
    clip_vision_config,
    openclip_vision_plan,
    umt5_config,
    umt5_plan,
    wan_clip_plan,
    wan_dit_config,
    wan_dit_plan,
    wan_vae_config,
    wan_vae_plan,
)


def target_manifest(module: torch.nn.Module) -> dict[str, torch.Size]:
    """Keys a converter must fill: the state dict without tied duplicates (e.g. umT5 `encoder.embed_tokens`)."""
    seen: set[int] = set()
    manifest = {}
    for key, tensor in module.state_dict(keep_vars=True).items():
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        manifest[key] = tensor.shape
    return manifest


def on_meta(build: Any, *args: Any, **kwargs: Any) -> torch.nn.Module:
    with torch.device("meta"):
        return build(*args, **kwargs)


def official_checkpoint_manifest(
    simple: bool, lora_rank: int = 128, dit: layouts.WanModelOriginal | None = None
) -> dict[str, torch.Size]:
    """An official Animate-X++ checkpoint: LoRA on 10 linears per DiT block (prefix `pipe.dit.`) + pose modules."""
    dit = dit if dit is not None else on_meta(layouts.WanModelOriginal)
    dit_shapes = meta_manifest(dit)
    manifest: dict[str, torch.Size] = {}
    for index in range(len(dit.blocks)):
        for module in layouts.OFFICIAL_LORA_TARGETS:
            out_features, in_features = dit_shapes[f"blocks.{index}.{module}.weight"]
            base = f"{layouts.OFFICIAL_LORA_PREFIX}blocks.{index}.{module}"
            manifest[f"{base}.lora_A.default.weight"] = torch.Size([lora_rank, in_features])
            manifest[f"{base}.lora_B.default.weight"] = torch.Size([out_features, lora_rank])
    pose = on_meta(layouts.AnimateXPoseModulesOriginal, simple=simple, model_dim=dit.dim)
    manifest.update(meta_manifest(pose))
    return manifest


@dataclass
class LayoutCheck:
    name: str
    report: PlanReport
    num_source: int
    num_target: int


def _check(name: str, plan: ConversionPlan, source: dict, target: dict) -> LayoutCheck:
    return LayoutCheck(name, check_plan(plan, source, target), len(source), len(target))


def verify_layouts(lora_rank: int = 128) -> list[LayoutCheck]:
    """Every converter against the full-size published layouts (about a second, no memory)."""
    from diffusers import AutoencoderKLWan, WanTransformer3DModel
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection, UMT5Config, UMT5EncoderModel

    from animatex.models import build_transformer

    checks = []
    dit = on_meta(layouts.WanModelOriginal)
    dit_src = meta_manifest(dit)
    dit_cfg = wan_dit_config(dit_src, {"num_heads": 40})
    checks.append(
        _check(
            "wan dit",
            wan_dit_plan(dit_src),
            dit_src,
            target_manifest(on_meta(WanTransformer3DModel, **dit_cfg)),
        )
    )

    vae_src = meta_manifest(on_meta(layouts.WanVAEOriginal))
    vae_tgt = target_manifest(on_meta(AutoencoderKLWan, **wan_vae_config(vae_src)))
    checks.append(_check("wan vae", wan_vae_plan(vae_src), vae_src, vae_tgt))

    t5_src = meta_manifest(on_meta(layouts.UMT5EncoderOriginal))
    t5_tgt = target_manifest(on_meta(UMT5EncoderModel, UMT5Config(**umt5_config(t5_src))))
    checks.append(_check("umt5-xxl encoder", umt5_plan(t5_src), t5_src, t5_tgt))

    clip_src = meta_manifest(on_meta(layouts.XLMRobertaCLIPOriginal))
    clip_tgt = target_manifest(
        on_meta(CLIPVisionModelWithProjection, CLIPVisionConfig(**clip_vision_config(clip_src, "wan")))
    )
    checks.append(
        _check("wan clip vit-h/14", wan_clip_plan(clip_src, with_projection=True), clip_src, clip_tgt)
    )

    oc_src = meta_manifest(on_meta(layouts.OpenCLIPModelOriginal))
    oc_tgt = target_manifest(
        on_meta(CLIPVisionModelWithProjection, CLIPVisionConfig(**clip_vision_config(oc_src, "openclip")))
    )
    checks.append(_check("openclip vit-h-14", openclip_vision_plan(oc_src), oc_src, oc_tgt))

    for simple in (False, True):
        ckpt = official_checkpoint_manifest(simple, lora_rank, dit)
        model = on_meta(build_transformer, "wan2.1-i2v-14b", use_pose_indicator=not simple)
        full_target = target_manifest(model)
        checks.append(
            _check_animatex(f"animate-x++{'_simple' if simple else ''}.ckpt", ckpt, dit_src, full_target)
        )
    return checks


def _check_animatex(name: str, ckpt: dict, dit_src: dict, model_target: dict) -> LayoutCheck:
    """DiT shards + official checkpoint -> the whole AnimateXTransformer3DModel, LoRA deltas included."""
    pose_prefixes = ("pose_guider.", "ref_pose_encoder.", "pose_indicator.")
    wan_target = {k: v for k, v in model_target.items() if not k.startswith(pose_prefixes)}
    gaps = ipi_gaps(model_target)
    pose_target = {k: v for k, v in model_target.items() if k.startswith(pose_prefixes) and k not in gaps}
    pose_source = {k: v for k, v in ckpt.items() if "lora" not in k}

    dit_plan = wan_dit_plan(dit_src)
    report = check_plan(dit_plan, dit_src, wan_target)
    pose_report = check_plan(animatex_pose_plan(pose_source), pose_source, pose_target)
    for field_name, items in vars(pose_report).items():
        getattr(report, field_name).extend(items)

    # Every LoRA tensor belongs to a pair whose delta has the shape of the converted weight it is added to.
    pairs = parse_official_lora(ckpt)
    lora_keys = {k for k in ckpt if "lora" in k}
    report.unconsumed.extend(sorted(lora_keys - {k for p in pairs for k in (p.up_key, p.down_key)}))
    for pair in pairs:
        delta = torch.Size([ckpt[pair.up_key][0], ckpt[pair.down_key][1]])
        if pair.target not in wan_target:
            report.missing_sources.append(f"LoRA target {pair.target}")
        elif delta != wan_target[pair.target]:
            report.shape_mismatches.append(
                f"LoRA {pair.target} {tuple(delta)} != {tuple(wan_target[pair.target])}"
            )
    return LayoutCheck(name, report, len(dit_src) + len(ckpt), len(model_target))
