"""Official Animate-X++ checkpoints (`animate-x++.ckpt`, `animate-x++_simple.ckpt`) -> AnimateXTransformer3DModel.

What the release does when it loads one (the official release's `examples/inference_480p.py`):
- every key containing `lora` must contain `pipe.dit.`; the DiT weight it modifies is named by the `.lora_B.`
  key; the merge is W += lora_B @ lora_A into the bf16 DiT, with no alpha/rank scaling, biases untouched (we
  merge in the output dtype: the same for bf16, exact for fp32);
- keys containing a pose-module name are loaded (strictly) into that module after stripping "<module>.";
- every other key is ignored.
We do the same, under our module names. The keypoint encoder's first Linear is copied as is: our encoder reads
the keypoints in the release's order (`keypoint_encoder_layout="official"`). The release's fixed 81-frame
Conv1d becomes `pose_indicator.fixed_length_downsample`. One official tensor has no counterpart here (see
`POSE_MODULE_GAPS`); it is reported by the plan, never dropped silently.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import torch

from animatex.convert.core import ConversionPlan, TensorSource
from animatex.convert.original_layouts import OFFICIAL_LORA_PREFIX, OFFICIAL_POSE_MODULES
from animatex.convert.wan import wan_dit_key
from animatex.errors import AnimatexError

# ----------------------------------------------------------------------------------------------------------
# LoRA
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoraPair:
    """One official LoRA delta: target (diffusers name) += up @ down."""

    target: str
    down_key: str  # lora_A: (rank, in_features)
    up_key: str  # lora_B: (out_features, rank)


def parse_official_lora(keys: Iterable[str]) -> list[LoraPair]:
    """Find the LoRA pairs of an official checkpoint, keyed by the diffusers name of the weight they modify."""
    keys = list(keys)
    key_set = set(keys)
    stray = [key for key in keys if "lora" in key and OFFICIAL_LORA_PREFIX not in key]
    if stray:
        raise AnimatexError(
            f"LoRA keys without the '{OFFICIAL_LORA_PREFIX}' prefix (e.g. {stray[0]}); this is not an official "
            "Animate-X++ checkpoint"
        )
    pairs = []
    for key in keys:
        if "lora" not in key or ".lora_B." not in key:
            continue
        original = key.split(OFFICIAL_LORA_PREFIX, 1)[1]
        original = re.sub(r"\.lora_B\.(?:default\.)?weight$", ".weight", original)
        down_key = key.replace(".lora_B.", ".lora_A.")
        if down_key not in key_set:
            raise AnimatexError(f"{key} has no matching lora_A tensor {down_key}")
        target = wan_dit_key(original)
        if target is None:
            raise AnimatexError(f"{key} modifies {original}, which is not a Wan2.1 DiT weight")
        pairs.append(LoraPair(target, down_key, key))
    unpaired = sorted(
        key_set - {k for p in pairs for k in (p.down_key, p.up_key)} - {k for k in keys if "lora" not in k}
    )
    if unpaired:
        raise AnimatexError(f"LoRA tensors without a lora_B partner: {unpaired[:4]}")
    return pairs


def merge_lora(
    weight: torch.Tensor, up: torch.Tensor, down: torch.Tensor, dtype: torch.dtype = torch.bfloat16
) -> torch.Tensor:
    """W + up @ down computed in `dtype` (bf16 as the release does), scale 1."""
    if up.shape[1] != down.shape[0] or (up.shape[0], down.shape[1]) != tuple(weight.shape):
        raise AnimatexError(
            f"LoRA shapes up {tuple(up.shape)} @ down {tuple(down.shape)} do not fit a weight of {tuple(weight.shape)}"
        )
    return weight.to(dtype) + up.to(dtype) @ down.to(dtype)


class LoraMerger:
    """Callable for `write_plan(extra=...)`: merges the official delta into each converted DiT weight."""

    def __init__(
        self, pairs: list[LoraPair], source: TensorSource, dtype: torch.dtype = torch.bfloat16
    ) -> None:
        self.by_target = {pair.target: pair for pair in pairs}
        if len(self.by_target) != len(pairs):
            raise AnimatexError("the checkpoint holds two LoRA deltas for the same weight")
        self.source, self.dtype = source, dtype
        self.merged: set[str] = set()

    def __call__(self, key: str, tensor: torch.Tensor) -> torch.Tensor:
        pair = self.by_target.get(key)
        if pair is None:
            return tensor
        self.merged.add(key)
        return merge_lora(tensor, self.source.get(pair.up_key), self.source.get(pair.down_key), self.dtype)

    def check_all_merged(self) -> None:
        missing = sorted(set(self.by_target) - self.merged)
        if missing:
            raise AnimatexError(f"LoRA deltas whose target weight is not in the Wan DiT: {missing[:4]}")


def lora_adapter_state_dict(
    pairs: list[LoraPair], source: TensorSource, prefix: str = "transformer."
) -> dict[str, torch.Tensor]:
    """The deltas as a diffusers/PEFT LoRA file (`<prefix><module>.lora_A.weight`), loadable unmerged.

    No `.alpha` entries are written: PEFT then uses alpha = rank, i.e. scale 1, which is the official merge.
    """
    state = {}
    for pair in pairs:
        module = pair.target.removesuffix(".weight")
        state[f"{prefix}{module}.lora_A.weight"] = source.get(pair.down_key)
        state[f"{prefix}{module}.lora_B.weight"] = source.get(pair.up_key)
    return state


# ----------------------------------------------------------------------------------------------------------
# Pose modules
# ----------------------------------------------------------------------------------------------------------

# Official module prefix -> ours, then per-key renames inside it (applied to what follows the prefix).
_POSE_PREFIXES = {
    "dwpose_embedding.": "pose_guider.convs.",
    "randomref_embedding_pose.": "ref_pose_encoder.convs.",
    "pose_embedding_before.": "pose_indicator.keypoint_encoder.",
    "pose_embedding_after.": "pose_indicator.",
}
_KEYPOINT_RENAMES = (
    (r"^encoder\.layers\.", "layers."),
    (r"^increase_embed_dim\.", "keypoint_embed."),
    (r"^pre_image_condition_p\.", "proj_out."),
)
_RESAMPLER_RENAMES = (
    (r"^proj_out2\.", "proj_out."),  # the zero-initialised Linear(1024 -> model width)
    (r"^proj_conv\.", "fixed_length_downsample."),  # Conv1d(81 -> 21 frames)
    (r"^(latents|proj_in\.|proj_out\.|norm_out\.|layers\.)", r"resampler.\1"),
)

# Official tensors with no exact counterpart in AnimateXTransformer3DModel, and why.
POSE_MODULE_GAPS = {
    "pose_embedding_before.pos_embed.pos_table": "fixed 330-frame sinusoid; the model computes the same "
    "table for any length (sinusoidal_frame_encoding)",
}
# Targets of our IPI that no official tensor fills, and why.
IPI_GENERATED_REASON = (
    "the any-length temporal compression (ours, for windows other than the release's 81 frames) has no "
    "official weights; it keeps its mean-over-4-frames initialisation"
)


def _pose_target(key: str) -> str | None:
    for official, ours in _POSE_PREFIXES.items():
        if official in key:
            rest = key.split(official, 1)[1]
            renames = _KEYPOINT_RENAMES if official == "pose_embedding_before." else ()
            renames = _RESAMPLER_RENAMES if official == "pose_embedding_after." else renames
            for pattern, replacement in renames:
                new_rest = re.sub(pattern, replacement, rest)
                if new_rest != rest:
                    rest = new_rest
                    break
            return ours + rest
    return None


def animatex_pose_plan(source_keys: Iterable[str], target_keys: Iterable[str] = ()) -> ConversionPlan:
    """Plan for the pose-module tensors of an official checkpoint (LoRA keys are handled by `parse_official_lora`).

    Keys the release itself ignores (neither LoRA nor a pose module) are dropped with that reason;
    `POSE_MODULE_GAPS` are dropped with theirs. `target_keys` lists what the target model holds: a target the
    checkpoint cannot fill (e.g. `temporal_downsample`) is reported as generated, not silently left out.
    """
    plan = ConversionPlan()
    for key in source_keys:
        if "lora" in key:
            continue
        gap = next(
            (
                reason
                for name, reason in POSE_MODULE_GAPS.items()
                if key.startswith(name + ".") or key == name
            ),
            None,
        )
        if gap is not None:
            plan.dropped[key] = gap
            continue
        target = _pose_target(key)
        if target is None:
            plan.dropped[key] = "not a LoRA or pose-module tensor: the official loader ignores it"
        elif not any(module in key for module in OFFICIAL_POSE_MODULES):
            plan.dropped[key] = "unknown module"
        else:
            plan.add(target, key)
    return plan


def lora_source_keys(pairs: list[LoraPair]) -> set[str]:
    return {key for pair in pairs for key in (pair.down_key, pair.up_key)}


def ipi_gaps(target_keys: Iterable[str]) -> dict[str, str]:
    """Targets of our IPI that no official tensor fills (kept at the model's own initialisation)."""
    return {
        key: IPI_GENERATED_REASON
        for key in target_keys
        if key.startswith("pose_indicator.temporal_downsample.")
    }


def pose_config_from_checkpoint(shapes: Mapping[str, torch.Size]) -> dict[str, object]:
    """The transformer config fields a checkpoint decides: which pose modules it holds (the "simple" variant
    has no IPI) and, for the full one, the frame count of its fixed-length temporal Conv1d."""
    has = {module: any(module + "." in key for key in shapes) for module in OFFICIAL_POSE_MODULES}
    if not has["dwpose_embedding"] or not has["randomref_embedding_pose"]:
        raise AnimatexError(
            "the checkpoint has no dwpose_embedding/randomref_embedding_pose tensors; expected an official "
            "animate-x++.ckpt or animate-x++_simple.ckpt"
        )
    if not (has["pose_embedding_before"] and has["pose_embedding_after"]):
        return {"use_pose_indicator": False}
    conv = [shape for key, shape in shapes.items() if key.endswith("pose_embedding_after.proj_conv.weight")]
    fixed_frames = None
    if conv:
        ((out_frames, in_frames, _),) = conv
        if out_frames != (in_frames - 1) // 4 + 1:
            raise AnimatexError(
                f"pose_embedding_after.proj_conv maps {in_frames} frames to {out_frames}; expected 4k+1 -> k+1 "
                "(81 -> 21 in the release)"
            )
        fixed_frames = in_frames
    return {
        "use_pose_indicator": True,
        "keypoint_encoder_layout": "official",
        "pose_indicator_fixed_frames": fixed_frames,
    }


def describe_official_variant(config: Mapping[str, object]) -> str:
    """One line: which official checkpoint variant a conversion found and what became of its temporal Conv1d."""
    if not config.get("use_pose_indicator"):
        return "official checkpoint: simple variant (no Implicit Pose Indicator)"
    frames = config.get("pose_indicator_fixed_frames")
    if frames is None:
        return "official checkpoint: full variant (with the IPI); it holds no fixed-length temporal Conv1d"
    return (
        f"official checkpoint: full variant (with the IPI); its {frames}-frame temporal Conv1d was kept (used when "
        f"the IPI sees {frames} frames; other lengths use the any-length compression)"
    )
