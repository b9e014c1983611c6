"""LoRA files on `AnimateXPipeline`'s transformer, e.g. few-step distillation LoRAs made for Wan2.1-I2V (LightX2V).

A LoRA is given as `FILE` or `FILE:SCALE`. The file is read with safetensors (pickles are refused: loading one can
run code), its keys go through diffusers' Wan LoRA converter (`WanLoraLoaderMixin.lora_state_dict`: the original
Wan layout `diffusion_model.blocks.N.self_attn.q.lora_down.weight` with `.alpha` and `.diff_b`, musubi, or
diffusers/PEFT keys) and are checked against the transformer, so a LoRA for another model fails in one line
instead of loading half-way. The pose modules are not LoRA targets: a LoRA that touches them is refused.
Then `load_lora_weights` adds it as a peft adapter, `set_adapters` weighs it, and `fuse_lora` +
`unload_lora_weights` merge it into the weights: the pipeline runs as a plain model afterwards (every memory
mode and step cache, no per-step LoRA cost). A quantised transformer (GGUF) keeps the adapters unmerged.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from animatex.errors import AnimatexError
from animatex.models.transformer_animatex import POSE_MODULES

# The release's own LoRA when `animatex convert --lora adapter` kept it unmerged; `load_pipeline` loads it first.
RELEASE_LORA_FILE = "animatex_lora.safetensors"
PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".pkl", ".pickle")
# The release's names for the pose modules (`animatex convert` renames them to POSE_MODULES).
RELEASE_POSE_MODULES = (
    "dwpose_embedding",
    "randomref_embedding_pose",
    "pose_embedding_before",
    "pose_embedding_after",
)
_KEY_PREFIXES = ("diffusion_model.", "transformer.", "base_model.model.")
_CONVERTED_KEY = re.compile(r"^transformer\.(?P<module>.+)\.lora_(?P<part>[AB])\.(?P<kind>weight|bias)$")


class LoraError(AnimatexError):
    """A LoRA file that cannot be read, or that does not fit the model."""


@dataclass(frozen=True)
class LoraSpec:
    path: Path
    scale: float = 1.0


def parse_lora_spec(text: str) -> LoraSpec:
    """ "distill.safetensors:0.8" -> LoraSpec(Path("distill.safetensors"), 0.8); without ":SCALE" the scale is 1."""
    path, sep, scale = text.rpartition(":")
    if sep and path:
        try:
            value = float(scale)
        except ValueError:
            value = None
        if value is not None:
            if not torch.isfinite(torch.tensor(value)):
                raise LoraError(f"the LoRA scale in {text!r} must be a finite number")
            return LoraSpec(Path(path), value)
    return LoraSpec(Path(text))


def check_lora_file(path: str | Path) -> None:
    """Refuse a missing file, a pickle or anything that is not safetensors, before a model loads."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise LoraError(f"LoRA file not found: {path}")
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise LoraError(
            f"{path} is a pickle ({path.suffix}); animatex reads LoRAs only from .safetensors (a pickle can run "
            "code when loaded): convert it with safetensors.torch.save_file first"
        )
    try:
        with safe_open(str(path), framework="pt"):
            pass
    except Exception as error:  # safetensors raises its own error type for a bad header
        raise LoraError(f"{path} is not a safetensors file ({error})") from None


def _module_name(key: str) -> str:
    for prefix in _KEY_PREFIXES:
        if key.startswith(prefix):
            return key[len(prefix) :]
    return key


def _examples(keys: list[str]) -> str:
    return f"{len(keys)} key{'s' if len(keys) != 1 else ''}, e.g. {keys[0]!r}"


def read_lora(pipe, path: str | Path) -> dict[str, torch.Tensor]:
    """The LoRA in `path` as diffusers keys (`transformer.<module>.lora_A.weight`), checked against
    `pipe.transformer`: every key names one of its modules (not a pose module) with the module's shape."""
    from safetensors.torch import load_file

    path = Path(path)
    check_lora_file(path)
    raw = load_file(str(path))
    if not raw:
        raise LoraError(f"{path} holds no tensors")
    pose = sorted(k for k in raw if _module_name(k).split(".")[0] in (*POSE_MODULES, *RELEASE_POSE_MODULES))
    if pose:
        raise LoraError(
            f"{path} changes the pose modules ({_examples(pose)}); LoRAs here are for the Wan2.1 DiT only: the pose "
            "modules are trained whole (docs/training.md)"
        )
    try:
        state = pipe.lora_state_dict(dict(raw))
    except Exception as error:  # the converter raises ValueError/KeyError on a layout it does not know
        message = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        raise LoraError(
            f"{path} is not a Wan2.1 LoRA that diffusers' converter reads ({len(raw)} keys, e.g. "
            f"{sorted(raw)[0]!r}): {message}"
        ) from None
    _warn_dropped(path, raw)
    _check_against_model(path, state, pipe.transformer)
    return state


def _warn_dropped(path: Path, raw: dict[str, torch.Tensor]) -> None:
    """diffusers' converter drops the original layout's norm (`.diff`) and modulation (`.diff_m`) differences;
    say so when they are not zero (LightX2V's own files carry `blocks.N.diff_m`)."""
    dropped = sorted(
        key
        for key, tensor in raw.items()
        if key.endswith((".diff", ".diff_m"))
        and not key.endswith("head.head.diff")
        and tensor.abs().max() > 0
    )
    if dropped:
        warnings.warn(
            f"{path}: diffusers' Wan LoRA converter does not apply {_examples(dropped)} (norm/modulation "
            "differences); the rest of the LoRA is loaded",
            UserWarning,
            stacklevel=3,
        )


def _check_against_model(path: Path, state: dict[str, torch.Tensor], transformer: torch.nn.Module) -> None:
    modules = dict(transformer.named_modules())
    unknown, pose = [], []
    for key, tensor in sorted(state.items()):
        match = _CONVERTED_KEY.match(key)
        module = modules.get(match["module"]) if match else None
        if match and match["module"].split(".")[0] in POSE_MODULES:
            pose.append(key)
        elif module is None:
            unknown.append(key)
        elif isinstance(module, torch.nn.Linear):
            expected = {
                ("A", "weight"): (None, module.in_features),
                ("B", "weight"): (module.out_features, None),
                ("B", "bias"): (module.out_features,),
            }.get((match["part"], match["kind"]))
            shape = tuple(tensor.shape)
            if (
                expected is None
                or len(shape) != len(expected)
                or any(want is not None and want != got for want, got in zip(expected, shape, strict=True))
            ):
                raise LoraError(
                    f"{path}: {key} has shape {shape} but {match['module']} is Linear({module.in_features} -> "
                    f"{module.out_features}); the LoRA was made for another model (size)"
                )
    if pose:
        raise LoraError(
            f"{path} changes the pose modules ({_examples(pose)}); LoRAs here are for the Wan2.1 DiT only"
        )
    if unknown:
        what = (
            "matches nothing in the model"
            if len(unknown) == len(state)
            else f"has {len(unknown)} of {len(state)} keys that match no module of the model"
        )
        raise LoraError(f"{path} {what}: {_examples(unknown)} (a LoRA for another model?)")


def load_loras(pipe, specs: Sequence[str | LoraSpec]) -> None:
    """Merge the LoRAs `specs` names ("FILE" or "FILE:SCALE") into `pipe.transformer`'s weights."""
    specs = [parse_lora_spec(spec) if isinstance(spec, str) else spec for spec in specs]
    if not specs:
        return
    names = []
    for index, spec in enumerate(specs):
        state = read_lora(pipe, spec.path)
        names.append(f"lora_{index}")
        pipe.load_lora_weights(state, adapter_name=names[-1])
    pipe.set_adapters(names, [spec.scale for spec in specs])
    if getattr(pipe.transformer, "hf_quantizer", None) is not None:
        return  # quantised weights (GGUF) cannot take a merge: the adapters run beside them
    pipe.fuse_lora(components=["transformer"], adapter_names=names)
    pipe.unload_lora_weights()
