"""Assemble an `AnimateXPipeline.from_pretrained` folder from Wan2.1 weights and the official Animate-X++ files.

Every tensor is streamed: safetensors shards are opened lazily, torch pickles are memory-mapped
(weights_only=True), and converted tensors go straight into size-capped output shards, so converting the 14B
model needs about one output shard of RAM, not the model's size.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from animatex.convert.animatex_ckpt import (
    LoraMerger,
    animatex_pose_plan,
    describe_official_variant,
    ipi_gaps,
    lora_adapter_state_dict,
    parse_official_lora,
    pose_config_from_checkpoint,
)
from animatex.convert.core import (
    ConversionPlan,
    SafetensorsSource,
    ShardedSafetensorsWriter,
    TensorSource,
    TorchPickleSource,
    require_plan,
    write_plan,
)
from animatex.convert.manifests import on_meta, target_manifest
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
from animatex.errors import AnimatexError
from animatex.io.atomic import write_failure

# File names of the original Wan2.1-I2V-14B release.
ORIGINAL_VAE = "Wan2.1_VAE.pth"
ORIGINAL_T5 = "models_t5_umt5-xxl-enc-bf16.pth"
ORIGINAL_CLIP = "models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth"
ORIGINAL_TOKENIZER = Path("google") / "umt5-xxl"
DIFFUSERS_PARTS = ("transformer", "vae", "text_encoder", "tokenizer", "image_encoder", "image_processor")
# OpenAI CLIP normalisation, used by Wan's CLIP and by OpenCLIP ViT-H-14 alike.
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
WAN_NATIVE_FRAMES = 81
WAN_NATIVE_AREA = 832 * 480
SCHEDULER_SHIFT = 5.0  # Wan2.1, github.com/Wan-Video/Wan2.1


@dataclass
class ConvertOptions:
    dtype: torch.dtype = torch.bfloat16
    lora_mode: str = "merge"  # "merge" (official behaviour) or "adapter" (kept as a PEFT LoRA file)
    max_shard_bytes: int = 5 * 1024**3
    transformer_overrides: dict | None = None  # config fields the checkpoint shapes cannot tell (tests)


def detect_wan_layout(wan_dir: Path) -> str:
    """ "diffusers" for a `*-Diffusers` folder, "original" for the released Wan2.1 files."""
    if not wan_dir.is_dir():
        raise AnimatexError(f"--wan-dir {wan_dir} is not a folder; pass the Wan2.1-I2V-14B download")
    if (wan_dir / "model_index.json").is_file() or (wan_dir / "transformer").is_dir():
        missing = [part for part in DIFFUSERS_PARTS if not (wan_dir / part).is_dir()]
        if missing:
            raise AnimatexError(f"{wan_dir} looks like a diffusers folder but lacks {missing}")
        return "diffusers"
    if list(wan_dir.glob("diffusion_pytorch_model*.safetensors")):
        missing = [
            name for name in (ORIGINAL_VAE, ORIGINAL_T5, ORIGINAL_CLIP) if not (wan_dir / name).is_file()
        ]
        if missing:
            raise AnimatexError(
                f"{wan_dir} holds the original DiT shards but lacks {missing} (same download)"
            )
        return "original"
    raise AnimatexError(
        f"{wan_dir} is neither a Wan2.1 diffusers folder (model_index.json, transformer/, vae/...) nor the "
        "original release (diffusion_pytorch_model-0000N-of-00007.safetensors, Wan2.1_VAE.pth ...)"
    )


def _identity_plan(keys: list[str]) -> ConversionPlan:
    plan = ConversionPlan()
    for key in keys:
        plan.add(key, key)
    return plan


def _temporal_downsample_init(shape: torch.Size) -> dict[str, torch.Tensor]:
    # Mirrors ImplicitPoseIndicator.initialize_weights (mean over each group of frames); a test compares them.
    weight = torch.zeros(shape)
    weight += torch.eye(shape[0], shape[1])[:, :, None] / shape[-1]
    return {
        "pose_indicator.temporal_downsample.weight": weight,
        "pose_indicator.temporal_downsample.bias": torch.zeros(shape[0]),
    }


def convert_transformer(
    wan_dir: Path, layout: str, out: Path, ckpt: TensorSource | None, options: ConvertOptions
) -> dict[str, object]:
    """Write `out/transformer` (AnimateXTransformer3DModel); returns its config."""
    from animatex.models import ANIMATEX_PRESETS, AnimateXTransformer3DModel

    if layout == "diffusers":
        dit = SafetensorsSource(sorted((wan_dir / "transformer").glob("*.safetensors")))
        wan_config = json.loads((wan_dir / "transformer" / "config.json").read_text())
        wan_config = {k: v for k, v in wan_config.items() if not k.startswith("_")}
        dit_plan = _identity_plan(dit.names())
    else:
        dit = SafetensorsSource(sorted(wan_dir.glob("diffusion_pytorch_model*.safetensors")))
        original_config = wan_dir / "config.json"
        original = json.loads(original_config.read_text()) if original_config.is_file() else None
        wan_config = wan_dit_config(dit.shapes(), original)
        dit_plan = wan_dit_plan(dit.names())

    config = {**ANIMATEX_PRESETS["wan2.1-i2v-14b"], **wan_config}
    pose_plan, pairs = ConversionPlan(), []
    if ckpt is not None:
        config.update(pose_config_from_checkpoint(ckpt.shapes()))
        pairs = parse_official_lora(ckpt.names())
        pose_plan = animatex_pose_plan([k for k in ckpt.names() if "lora" not in k])
    config.update(options.transformer_overrides or {})
    model = on_meta(AnimateXTransformer3DModel, **config)
    target = target_manifest(model)
    pose_prefixes = ("pose_guider.", "ref_pose_encoder.", "pose_indicator.")
    require_plan(
        dit_plan,
        dit.shapes(),
        {k: v for k, v in target.items() if not k.startswith(pose_prefixes)},
        "Wan2.1 DiT",
    )
    generated = {}
    if ckpt is not None:
        gaps = ipi_gaps(target)
        pose_target = {k: v for k, v in target.items() if k.startswith(pose_prefixes) and k not in gaps}
        pose_source = {k: v for k, v in ckpt.shapes().items() if "lora" not in k}
        require_plan(pose_plan, pose_source, pose_target, "Animate-X++ pose modules")
        if gaps:
            generated = _temporal_downsample_init(target["pose_indicator.temporal_downsample.weight"])

    folder = out / "transformer"
    writer = ShardedSafetensorsWriter(folder, "diffusion_pytorch_model", options.max_shard_bytes)
    # Merged in the output dtype: the release merges into its bf16 DiT, exact for bf16; fp32 keeps the delta whole.
    merger = LoraMerger(pairs, ckpt, options.dtype) if pairs and options.lora_mode == "merge" else None
    write_plan(dit_plan, dit, writer, dtype=options.dtype, extra=merger)
    if merger is not None:
        merger.check_all_merged()
    if ckpt is not None:
        # The pose modules stay in float32 (`_skip_layerwise_casting_patterns` keeps them out of bf16 casts).
        write_plan(pose_plan, ckpt, writer, dtype=torch.float32)
        for key, tensor in generated.items():
            writer.add(key, tensor)
    writer.close()
    model.save_config(folder)
    if pairs and options.lora_mode == "adapter":
        from safetensors.torch import save_file

        lora = lora_adapter_state_dict(pairs, ckpt)
        from animatex.pipelines.lora import RELEASE_LORA_FILE

        save_file({k: v.contiguous() for k, v in lora.items()}, str(out / RELEASE_LORA_FILE))
    return config


def _write_transformers_model(
    folder: Path, plan: ConversionPlan, source: TensorSource, model, dtype, options
) -> None:
    require_plan(plan, source.shapes(), target_manifest(model), type(model).__name__)
    writer = ShardedSafetensorsWriter(folder, "model", options.max_shard_bytes)
    write_plan(plan, source, writer, dtype=dtype)
    writer.close()
    model.config.architectures = [type(model).__name__]
    model.config.save_pretrained(folder)


def _clip_processor(image_size: int):
    """The release's CLIP input: the whole picture resized to image_size x image_size (no crop)."""
    from transformers import CLIPImageProcessorPil

    return CLIPImageProcessorPil(
        size={"height": image_size, "width": image_size},
        do_center_crop=False,
        crop_size={"height": image_size, "width": image_size},
        image_mean=CLIP_MEAN,
        image_std=CLIP_STD,
    )


def convert_original_components(wan_dir: Path, out: Path, options: ConvertOptions) -> None:
    """VAE, umT5 encoder + tokenizer, CLIP image encoder + processor from the original release files."""
    from diffusers import AutoencoderKLWan
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection, UMT5Config, UMT5EncoderModel

    vae = TorchPickleSource(wan_dir / ORIGINAL_VAE)
    vae_model = on_meta(AutoencoderKLWan, **wan_vae_config(vae.shapes()))
    plan = wan_vae_plan(vae.names())
    require_plan(plan, vae.shapes(), target_manifest(vae_model), ORIGINAL_VAE)
    writer = ShardedSafetensorsWriter(out / "vae", "diffusion_pytorch_model", options.max_shard_bytes)
    write_plan(plan, vae, writer, dtype=torch.float32)  # the VAE runs in float32, as in the release
    writer.close()
    vae_model.save_config(out / "vae")

    t5 = TorchPickleSource(wan_dir / ORIGINAL_T5)
    t5_model = on_meta(UMT5EncoderModel, UMT5Config(**umt5_config(t5.shapes())))
    _write_transformers_model(
        out / "text_encoder", umt5_plan(t5.names()), t5, t5_model, options.dtype, options
    )
    tokenizer = wan_dir / ORIGINAL_TOKENIZER
    if not (tokenizer.is_dir() and any(tokenizer.iterdir())):
        raise AnimatexError(
            f"missing the umT5 tokenizer folder {tokenizer} (it ships with Wan2.1-I2V-14B as google/umt5-xxl/)"
        )
    shutil.copytree(tokenizer, out / "tokenizer")

    clip = TorchPickleSource(wan_dir / ORIGINAL_CLIP)
    clip_config = CLIPVisionConfig(**clip_vision_config(clip.shapes(), "wan"))
    clip_model = on_meta(CLIPVisionModelWithProjection, clip_config)
    plan = wan_clip_plan(clip.names(), with_projection=True)
    _write_transformers_model(out / "image_encoder", plan, clip, clip_model, options.dtype, options)
    _clip_processor(clip_config.image_size).save_pretrained(out / "image_processor")


def convert_openclip(path: Path, out: Path, options: ConvertOptions) -> None:
    """The IPI's OpenCLIP ViT-H-14 -> `motion_encoder` (CLIPVisionModelWithProjection) + `motion_processor`."""
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    source = TorchPickleSource(path)
    if "visual.conv1.weight" not in source.shapes():
        raise AnimatexError(f"{path} is not an OpenCLIP ViT checkpoint (no visual.conv1.weight)")
    config = CLIPVisionConfig(**clip_vision_config(source.shapes(), "openclip"))
    model = on_meta(CLIPVisionModelWithProjection, config)
    # float32: the official IPI runs its frozen OpenCLIP encoder in float32.
    _write_transformers_model(
        out / "motion_encoder", openclip_vision_plan(source.names()), source, model, torch.float32, options
    )
    _clip_processor(config.image_size).save_pretrained(out / "motion_processor")


def _copy_part(src: Path, dst: Path) -> None:
    """Hard-link the files of a diffusers component (no extra disk) and fall back to copying."""
    dst.mkdir(parents=True)
    for file in src.rglob("*"):
        target = dst / file.relative_to(src)
        if file.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            target.hardlink_to(file.resolve())
        except OSError:
            shutil.copy2(file, target)


def write_model_index(out: Path) -> None:
    """model_index.json written by AnimateXPipeline itself, from components instantiated on the meta device."""
    import transformers
    from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler
    from transformers import AutoConfig, AutoImageProcessor, AutoTokenizer

    from animatex.models import AnimateXTransformer3DModel
    from animatex.pipelines.pipeline_animatex import AnimateXPipeline

    def model(folder: str):
        if not (out / folder).is_dir():
            return None
        config = AutoConfig.from_pretrained(out / folder)
        # The class named in config.json (AutoModel would pick e.g. UMT5Model over UMT5EncoderModel).
        return on_meta(getattr(transformers, config.architectures[0]), config)

    def processor(folder: str):
        return AutoImageProcessor.from_pretrained(out / folder) if (out / folder).is_dir() else None

    pipe = AnimateXPipeline(
        tokenizer=AutoTokenizer.from_pretrained(out / "tokenizer"),
        text_encoder=model("text_encoder"),
        vae=on_meta(AutoencoderKLWan.from_config, AutoencoderKLWan.load_config(out / "vae")),
        scheduler=FlowMatchEulerDiscreteScheduler.from_pretrained(out / "scheduler"),
        transformer=on_meta(
            AnimateXTransformer3DModel.from_config,
            AnimateXTransformer3DModel.load_config(out / "transformer"),
        ),
        image_processor=processor("image_processor"),
        image_encoder=model("image_encoder"),
        motion_encoder=model("motion_encoder"),
        motion_processor=processor("motion_processor"),
        # How the official release runs Wan2.1-I2V: 81-frame clips at 832x480, so a long driving video goes
        # in 81-frame windows and a call without a size renders the 480p area in the reference's aspect.
        default_window_frames=WAN_NATIVE_FRAMES,
        default_max_area=WAN_NATIVE_AREA,
        # ... and samples with its noise levels (DiffSynth's FlowMatchScheduler, sigma_min 0, extra_one_step).
        sigma_schedule="wan",
    )
    pipe.save_config(out)


def is_pipeline_folder(folder: Path) -> bool:
    """Whether `folder` holds an AnimateXPipeline written by `animatex convert` or save_pretrained."""
    try:
        index = json.loads((folder / "model_index.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(index, dict) and index.get("_class_name") == "AnimateXPipeline"


def check_out_folder(out: Path, overwrite: bool = False) -> None:
    """Refuse an `--out` that would lose user files: a file, or a non-empty folder that is not a pipeline."""
    if out.exists() and not out.is_dir():
        raise AnimatexError(f"--out {out} is a file; give the name of a new folder")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not is_pipeline_folder(out):
        raise AnimatexError(
            f"--out {out} is not empty and is not an animatex pipeline folder; choose a new or empty folder"
        )
    if not overwrite:
        raise AnimatexError(f"--out {out} already holds a pipeline; pass --overwrite to replace it")


def _move_into_place(built: Path, out: Path) -> None:
    """Put the finished folder at `out`: a folder the user made is kept and filled, an old pipeline replaced."""
    if not out.exists():
        os.replace(built, out)
    elif not any(out.iterdir()):
        for entry in built.iterdir():
            os.replace(entry, out / entry.name)
        built.rmdir()
    else:  # an old pipeline, with --overwrite: swap, then remove the old one
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
        os.replace(built, out)
        shutil.rmtree(old, ignore_errors=True)


def convert_to_pipeline(
    wan_dir: str | Path,
    out_dir: str | Path,
    official_ckpt: str | Path | None = None,
    openclip: str | Path | None = None,
    options: ConvertOptions | None = None,
    overwrite: bool = False,
) -> Path:
    """The whole `animatex convert`: returns the folder AnimateXPipeline.from_pretrained reads.

    The pipeline is built in a hidden sibling folder and moved into place only when complete, so a failure
    leaves `out_dir` as it was. `overwrite` replaces an existing pipeline folder (never other files).
    """
    options = options or ConvertOptions()
    if options.lora_mode not in ("merge", "adapter"):
        raise AnimatexError(f"lora mode {options.lora_mode!r}: choose 'merge' or 'adapter'")
    wan_dir, final = Path(wan_dir), Path(out_dir)
    layout = detect_wan_layout(wan_dir)
    check_out_folder(final, overwrite)
    ckpt = None
    if official_ckpt is not None:
        ckpt = TorchPickleSource(official_ckpt)
    if openclip is not None and not Path(openclip).is_file():
        raise AnimatexError(
            f"missing --openclip file {openclip} (open_clip_pytorch_model.bin of OpenCLIP ViT-H-14)"
        )
    out = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    try:
        out.mkdir(parents=True)
        config = convert_transformer(wan_dir, layout, out, ckpt, options)
        if ckpt is not None:
            print(describe_official_variant(config))
        if layout == "diffusers":
            for part in DIFFUSERS_PARTS[1:]:
                _copy_part(wan_dir / part, out / part)
        else:
            convert_original_components(wan_dir, out, options)
        if openclip is not None:
            convert_openclip(Path(openclip), out, options)
        elif config.get("use_pose_indicator"):
            print(
                "note: no --openclip given; the Implicit Pose Indicator will read the image encoder's "
                "projected embeddings, not the OpenCLIP ViT-H-14 features it was trained with"
            )
        from diffusers import FlowMatchEulerDiscreteScheduler

        FlowMatchEulerDiscreteScheduler(shift=SCHEDULER_SHIFT).save_pretrained(out / "scheduler")
        write_model_index(out)
        _move_into_place(out, final)
    except OSError as error:
        shutil.rmtree(out, ignore_errors=True)  # never leave a half-written folder that looks loadable
        raise write_failure(final, error) from error
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return final
