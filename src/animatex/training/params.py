"""Partial parameter training: named parameter groups, LoRA adapters, and which groups train in which task."""

from __future__ import annotations

import re
from collections.abc import Iterable

import torch
from peft import LoraConfig as PeftLoraConfig

from animatex.errors import AnimatexError
from animatex.models.transformer_animatex import POSE_MODULES
from animatex.training.config import Config, LoraConfig


def add_lora(transformer: torch.nn.Module, config: LoraConfig) -> None:
    """Attach a peft LoRA adapter ("default") to the DiT's attention and FFN projections."""
    targets = [t.replace(".", r"\.") for t in config.targets]
    # Only the Wan blocks (the pose modules have their own projections that train in full). A target is a path
    # inside both attentions ("to_q") or inside the block ("ffn.net.2").
    pattern = rf"^blocks\.\d+\.((attn1|attn2)\.)?({'|'.join(targets)})$"
    transformer.add_adapter(
        PeftLoraConfig(
            r=config.rank,
            lora_alpha=config.alpha if config.alpha is not None else config.rank,
            target_modules=pattern,
            init_lora_weights=True,
        )
    )


def named_groups(modules: dict[str, torch.nn.Module], config: Config) -> dict[str, list[str]]:
    """Every parameter group -> the full names ("transformer.blocks.0...") of its parameters.

    Custom `tasks.patterns` groups are matched first, so a parameter belongs to exactly one group and the
    optimizer can give each group its own learning rate.
    """
    patterns = {name: re.compile(regex) for name, regex in config.tasks.patterns.items()}
    groups: dict[str, list[str]] = {name: [] for name in patterns}
    for module_name, module in modules.items():
        for name, _ in module.named_parameters():
            full = f"{module_name}.{name}"
            group = next((g for g, rx in patterns.items() if rx.search(full)), None)
            if group is None:
                group = _builtin_group(module_name, name)
            if group is not None:
                groups.setdefault(group, []).append(full)
    return groups


def _builtin_group(module_name: str, name: str) -> str | None:
    if module_name in ("image_encoder", "motion_encoder"):
        return module_name
    if module_name != "transformer":
        return None
    if "lora_" in name:
        return "lora"
    head = name.split(".", 1)[0]
    return head if head in POSE_MODULES else "transformer"


def trainable_names(groups: dict[str, list[str]], group_names: Iterable[str]) -> set[str]:
    names: set[str] = set()
    for group in group_names:
        if group not in groups or not groups[group]:
            raise AnimatexError(
                f"parameter group {group!r} has no parameters in this model "
                f"(groups with parameters: {', '.join(sorted(g for g, p in groups.items() if p))})"
            )
        names.update(groups[group])
    return names
