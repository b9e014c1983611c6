"""GGUF-quantised transformers: write a pipeline folder's DiT to a GGUF file, and load one back.

A GGUF file holds the transformer's weights only, as the community's Wan2.1 GGUF files do (Wan's original key
layout, e.g. `blocks.0.self_attn.q.weight`; diffusers' names are read too). Loading takes the config from the
pipeline folder's `transformer/config.json`, the (quantised) weights from the GGUF, and whatever the GGUF lacks
(the pose modules of a base Wan2.1 file) from the folder's safetensors. The quantised linear layers are
diffusers' own (`GGUFQuantizationConfig`, `GGUFLinear`): on a CPU they dequantise their weight in every
forward and compute in the compute dtype.

The Animate-X++ DiT is Wan2.1 plus the release's LoRA, so a base Wan2.1 GGUF alone is not it: either write
the merged DiT of a converted folder (`animatex quantize`) or load the base file and the release's LoRA unmerged
(`animatex convert --lora adapter` writes it; `pipe.load_lora_weights`), see docs/weights.md.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from animatex.convert.core import SafetensorsSource
from animatex.convert.wan import wan_dit_key, wan_original_dit_key
from animatex.errors import AnimatexError
from animatex.models.transformer_animatex import POSE_MODULES, AnimateXTransformer3DModel

logger = logging.getLogger("animatex")

# The types `animatex quantize` writes (gguf-py quantises them in numpy; diffusers dequantises them).
GGUF_TYPES = ("Q8_0", "Q4_0")
GGUF_MAGIC = b"GGUF"
# Key prefix some single-file checkpoints carry in front of the DiT names.
_ORIGINAL_PREFIX = "model.diffusion_model."
# Bytes a GGUF file keeps per weight, for sizing: Q8_0 stores 32 int8 + an fp16 scale per block of 32.
BYTES_PER_WEIGHT = {"Q8_0": 34 / 32, "Q4_0": 18 / 32}


def require_gguf():
    """The `gguf` package, or a one-line error that says how to install it."""
    try:
        import gguf
    except ImportError:
        raise AnimatexError(
            "GGUF transformers need the gguf package: pip install gguf (or pip install -e '.[gguf]')"
        ) from None
    return gguf


def check_gguf_file(path: str | Path) -> Path:
    """Refuse a missing file, a file that is not GGUF, or a missing `gguf` package (before any slow work)."""
    path = Path(path)
    if not path.is_file():
        raise AnimatexError(f"GGUF file not found: {path}")
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic != GGUF_MAGIC:
        raise AnimatexError(f"{path} is not a GGUF file (it does not start with the GGUF magic bytes)")
    require_gguf()
    return path


def check_gguf_options(path: str | Path, memory: str | None = None) -> None:
    """`check_gguf_file`, and refuse memory modes that would cast the GGUF's weights again (fp8)."""
    from animatex.pipelines.memory import MemoryModeError, parse_memory_mode

    check_gguf_file(path)
    if "fp8" in parse_memory_mode(memory):
        raise MemoryModeError(
            "--memory fp8 and a GGUF transformer both store the transformer's weights in fewer bits: use one"
        )


# ---- names ----------------------------------------------------------------------------------------------
def _is_pose_key(key: str) -> bool:
    return key.split(".", 1)[0] in POSE_MODULES


def gguf_name(key: str) -> str:
    """The name a transformer tensor gets in a GGUF file: Wan's original one, ours for the pose modules."""
    if _is_pose_key(key):
        return key
    original = wan_original_dit_key(key)
    if original is None:
        raise AnimatexError(f"transformer tensor {key} has no name in Wan's original layout")
    return original


def diffusers_names(checkpoint: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    """The GGUF's tensors under diffusers' names, whichever of the two layouts the file uses."""
    checkpoint = {key.removeprefix(_ORIGINAL_PREFIX): value for key, value in checkpoint.items()}
    if "head.head.weight" not in checkpoint and "blocks.0.self_attn.q.weight" not in checkpoint:
        return checkpoint  # diffusers' layout already
    renamed, unknown = {}, []
    for key, value in checkpoint.items():
        target = key if _is_pose_key(key) else wan_dit_key(key)
        if target is None:
            unknown.append(key)
        else:
            renamed[target] = value
    if unknown:
        raise AnimatexError(
            f"{path} holds tensors outside Wan's DiT layout: {', '.join(sorted(unknown)[:4])}"
        )
    return renamed


# ---- loading --------------------------------------------------------------------------------------------
def _logical_shape(tensor: torch.Tensor) -> tuple[int, ...]:
    """The weight's own shape: a quantised tensor is stored as bytes (diffusers' `GGUFParameter.quant_shape`)."""
    return tuple(getattr(tensor, "quant_shape", tensor.shape))


def _folder_tensors(transformer_dir: Path) -> SafetensorsSource | None:
    files = sorted(transformer_dir.glob("*.safetensors"))
    return SafetensorsSource(files) if files else None


def folder_weight_dtype(model_dir: str | Path) -> torch.dtype | None:
    """The dtype the folder's DiT is stored in (its `proj_out.weight`; the pose modules may differ), or None."""
    source = _folder_tensors(Path(model_dir) / "transformer")
    if source is None or "proj_out.weight" not in source.shapes():
        return None
    return source.get("proj_out.weight").dtype


def load_gguf_transformer(
    path: str | Path, model_dir: str | Path, dtype: torch.dtype = torch.float32
) -> AnimateXTransformer3DModel:
    """An `AnimateXTransformer3DModel` with the GGUF file's (quantised) weights, computing in `dtype`.

    The config is the folder's `transformer/config.json`; tensors the GGUF lacks (the pose modules of a base
    Wan2.1 file) come from the folder's `transformer/*.safetensors`, read one by one. Load the pipeline around
    it with `AnimateXPipeline.from_pretrained(model_dir, transformer=...)` (`animate.load_pipeline` does).
    """
    from accelerate import init_empty_weights
    from diffusers import GGUFQuantizationConfig
    from diffusers.models.model_loading_utils import load_gguf_checkpoint
    from diffusers.quantizers.gguf.utils import dequantize_gguf_tensor

    path = check_gguf_file(path)
    transformer_dir = Path(model_dir) / "transformer"
    if not (transformer_dir / "config.json").is_file():
        raise AnimatexError(
            f"{model_dir} has no transformer/config.json to build the GGUF's transformer from"
        )
    try:
        checkpoint = load_gguf_checkpoint(str(path))
    except Exception as error:  # gguf-py and diffusers raise several types for a damaged or unsupported file
        raise AnimatexError(f"cannot read {path}: {str(error).splitlines()[0]}") from error
    checkpoint = diffusers_names(checkpoint, path)

    config = AnimateXTransformer3DModel.load_config(transformer_dir)
    with init_empty_weights():
        empty = AnimateXTransformer3DModel.from_config(config)
    expected = {key: tuple(value.shape) for key, value in empty.state_dict().items()}
    unknown = sorted(set(checkpoint) - set(expected))
    if unknown:
        raise AnimatexError(
            f"{path} holds tensors the model in {model_dir} does not have: {', '.join(unknown[:4])} "
            "(is it a GGUF of another model?)"
        )
    for key, tensor in checkpoint.items():
        if _logical_shape(tensor) != expected[key]:
            raise AnimatexError(
                f"{path}: tensor {key} is {list(_logical_shape(tensor))} but {model_dir}'s transformer config "
                f"needs {list(expected[key])}: the GGUF is of another model size than the folder"
            )

    if any(map(_is_pose_key, expected)) and not any(map(_is_pose_key, checkpoint)):
        logger.warning(
            f"{path.name} holds no pose modules, so `animatex quantize` did not write it: a base Wan2.1 file lacks "
            "the Animate-X++ LoRA, load it unmerged (docs/weights.md, GGUF)"
        )
    missing = sorted(set(expected) - set(checkpoint))
    if missing:
        checkpoint.update(_from_folder(missing, transformer_dir, expected, path))

    linear_weights = {
        f"{name}.weight" for name, module in empty.named_modules() if isinstance(module, torch.nn.Linear)
    }
    for key, tensor in checkpoint.items():
        if hasattr(tensor, "quant_type") and key not in linear_weights:
            # Only linear layers compute from quantised weights; anything else is stored dequantised.
            checkpoint[key] = dequantize_gguf_tensor(tensor).to(dtype)
    return AnimateXTransformer3DModel.from_single_file(
        checkpoint,
        config=str(model_dir),
        subfolder="transformer",
        quantization_config=GGUFQuantizationConfig(compute_dtype=dtype),
        dtype=dtype,
    )


def _from_folder(
    keys: list[str], transformer_dir: Path, expected: dict[str, tuple[int, ...]], path: Path
) -> dict[str, torch.Tensor]:
    """The tensors the GGUF lacks, read from the folder's safetensors (a note lists them)."""
    source = _folder_tensors(transformer_dir)
    shapes = source.shapes() if source is not None else {}
    absent = [key for key in keys if key not in shapes]
    if absent:
        raise AnimatexError(
            f"{path} lacks {len(absent)} transformer tensors and {transformer_dir} does not hold them either "
            f"(e.g. {', '.join(absent[:4])})"
        )
    for key in keys:
        if tuple(shapes[key]) != expected[key]:
            raise AnimatexError(
                f"{transformer_dir}: tensor {key} is {list(shapes[key])}, its config needs {list(expected[key])}"
            )
    modules = sorted({key.split(".", 1)[0] for key in keys if _is_pose_key(key)})
    others = [key for key in keys if not _is_pose_key(key)]
    if modules:
        logger.info(f"{path.name}: pose modules {', '.join(modules)} from {transformer_dir}")
    if others:
        logger.warning(
            f"{path.name} lacks {len(others)} Wan tensors, taken unquantised from {transformer_dir}: "
            f"{', '.join(others[:6])}{' ...' if len(others) > 6 else ''}"
        )
    return {key: source.get(key) for key in keys}


# ---- writing --------------------------------------------------------------------------------------------
@dataclass
class GGUFSummary:
    """What `write_transformer_gguf` wrote."""

    path: Path
    qtype: str
    quantised: int  # tensors
    kept: int  # tensors stored in float32
    quantised_weights: int  # parameters in quantised tensors
    kept_weights: int
    file_bytes: int


def quantisable_keys(model: AnimateXTransformer3DModel, block_size: int = 32) -> set[str]:
    """Weights `animatex quantize` quantises: the linear layers that `--memory fp8` casts too, whose rows split
    into blocks. Like diffusers' layerwise casting (`enable_layerwise_casting`), it leaves the patch embedding,
    the condition embedders, norms, `proj_out`, the modules kept in float32 and the pose modules alone: measured
    on the small preset, quantising `proj_out` and the condition embedders to Q8_0 raised the output error from
    3e-7 to 1e-4 (mean, 64 px, 9 frames), for 2.3% of the 14B model's weights (with the pose modules)."""
    from diffusers.hooks.layerwise_casting import DEFAULT_SKIP_MODULES_PATTERN

    skip = (
        *DEFAULT_SKIP_MODULES_PATTERN,
        *(model._keep_in_fp32_modules or ()),
        *(model._skip_layerwise_casting_patterns or ()),
    )
    return {
        f"{name}.weight"
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear)
        and module.in_features % block_size == 0
        and not any(re.search(pattern, name) for pattern in skip)
    }


def write_transformer_gguf(
    model_dir: str | Path, out: str | Path, qtype: str = "Q8_0", overwrite: bool = False
) -> GGUFSummary:
    """Write the folder's transformer to `out` as GGUF: Wan's original key layout, linear weights quantised
    to `qtype` (the transformer blocks' linear layers, `quantisable_keys`), everything else (pose modules, norms,
    biases, modulation, patch and condition embedders, `proj_out`) in float32.

    Streams: one tensor is read, quantised and written at a time; the file appears only when complete.
    """
    from accelerate import init_empty_weights

    from animatex.io.atomic import atomic_output, check_writable

    gguf = require_gguf()
    if qtype not in GGUF_TYPES:
        raise AnimatexError(f"GGUF type {qtype!r}: choose one of {', '.join(GGUF_TYPES)}")
    out = Path(out)
    if out.suffix.lower() != ".gguf":
        raise AnimatexError(f"{out}: name the GGUF file *.gguf")
    if out.exists() and not overwrite:
        raise AnimatexError(f"{out} already exists; pass --overwrite to replace it")
    check_writable(out)
    transformer_dir = Path(model_dir) / "transformer"
    if not (transformer_dir / "config.json").is_file():
        raise AnimatexError(
            f"{model_dir} is not a pipeline folder with a transformer (no transformer/config.json)"
        )
    source = _folder_tensors(transformer_dir)
    if source is None:
        raise AnimatexError(f"{transformer_dir} holds no .safetensors weights to quantise")

    with init_empty_weights():
        model = AnimateXTransformer3DModel.from_config(
            AnimateXTransformer3DModel.load_config(transformer_dir)
        )
    expected = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    shapes = source.shapes()
    absent = sorted(set(expected) - set(shapes))
    if absent:
        raise AnimatexError(
            f"{transformer_dir} lacks {len(absent)} weights of its config: {', '.join(absent[:4])}"
        )
    for key, shape in expected.items():
        if tuple(shapes[key]) != shape:
            raise AnimatexError(
                f"{transformer_dir}: tensor {key} is {list(shapes[key])}, its config needs {list(shape)}"
            )

    quant = gguf.GGMLQuantizationType[qtype]
    block_size, _ = gguf.GGML_QUANT_SIZES[quant]
    quantised = quantisable_keys(model, block_size)
    writer = gguf.GGUFWriter(None, arch="wan")
    writer.add_name(f"{Path(model_dir).resolve().name} transformer")
    writer.add_file_type(gguf.LlamaFileType[f"MOSTLY_{qtype}"])
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    writer.add_string("animatex.content", "AnimateXTransformer3DModel with pose modules")
    counts = {"quantised": 0, "kept": 0, "quantised_weights": 0, "kept_weights": 0}
    for key, shape in expected.items():
        if key in quantised:
            byte_shape = gguf.quant_shape_to_byte_shape(shape, quant)
            writer.add_tensor_info(
                gguf_name(key), byte_shape, np.dtype(np.uint8), math.prod(byte_shape), quant
            )
        else:
            writer.add_tensor_info(gguf_name(key), shape, np.dtype(np.float32), 4 * math.prod(shape))
        kind = "quantised" if key in quantised else "kept"
        counts[kind] += 1
        counts[f"{kind}_weights"] += math.prod(shape)

    with atomic_output(out) as tmp:
        writer.write_header_to_file(tmp)
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for key in expected:
            data = source.get(key).float().numpy()
            writer.write_tensor_data(gguf.quants.quantize(data, quant) if key in quantised else data)
        writer.close()
    return GGUFSummary(out, qtype, file_bytes=out.stat().st_size, **counts)
