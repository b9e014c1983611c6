"""The training configurations: one YAML file, every key known, checked before any work starts.

`load_config(path)` reads `configs/NAME.yaml` into the pydantic models below (`VAEConfig` for the VAE
trainer). An unknown key, a missing dataset or a value of the wrong type stops with one line that names the
key (`train.max_stepz: unknown key ...`). Dotted overrides (`--set train.max_steps=10`) apply before checking.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from animatex.errors import AnimatexError
from animatex.pipelines.pipeline_animatex import TASKS
from animatex.pose.epi import EPIConfig

# Parameter groups a task may train. `lora` are the peft adapters on the DiT; `transformer` is every base DiT
# parameter outside the pose modules (full fine-tuning, for small models); the encoders are the CLIP-style
# image encoders (the demo trains its small CLIP with the model). Custom groups come from `groups.patterns`.
BUILTIN_GROUPS = (
    "pose_guider",
    "ref_pose_encoder",
    "pose_indicator",
    "lora",
    "transformer",
    "image_encoder",
    "motion_encoder",
)
# Pipelines the trainer can build from scratch (`model.preset`, the names of
# animatex.pipelines.presets.PIPELINE_PRESETS); larger models start from `model.pipeline`.
TRAINER_PRESETS = ("tiny", "demo")

Probability = Annotated[float, Field(ge=0, le=1)]
Positive = Annotated[int, Field(ge=1)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelConfig(Section):
    pipeline: str | None = None  # a from_pretrained pipeline folder to start from; None builds `preset`
    # Used when `pipeline` is None: "tiny" (CI) or "demo" (the demo DiT, the pretrained all-MiniLM-L6-v2 text
    # encoder, a small random CLIP-style image encoder, the demo VAE); see animatex.pipelines.presets.
    preset: str = "tiny"
    overrides: dict[str, Any] = {}  # transformer config overrides for the preset
    # The pipeline setting of that name (what the condition `y` holds, docs/pipeline.md); None keeps the starting
    # pipeline's (False for a preset).
    reference_in_every_frame: bool | None = None
    vae: str | None = None  # a pretrained AutoencoderKLWan folder replacing the preset's random VAE
    # The sampler settings the exported pipeline uses when a call names none (its model_index.json);
    # None keeps the starting pipeline's (50 steps, CFG 3 for a preset).
    default_num_inference_steps: Positive | None = None
    default_guidance_scale: float | None = None
    default_text_guidance_scale: float | None = None  # the prompt-only guidance (1: off)
    # The exported sampler's flow shift (its scheduler_config.json); None keeps the starting pipeline's (5).
    scheduler_shift: Annotated[float, Field(gt=0)] | None = None


class DataConfig(Section):
    root: str = "data/synth"  # a dataset in the on-disk format (docs/data.md)
    subset: str | None = "train"  # only clips of this subset from the index; None takes all
    num_frames: Positive = 17  # frames per training clip, 4k+1
    frame_stride: Positive = 1  # take every n-th frame of the source video
    height: Positive = 64
    width: Positive = 64
    pose_pool_size: Positive = 256  # EPI anchors sampled from this many dataset poses
    # Decoded clips kept in memory (LRU). Make it at least the dataset size when that fits in RAM: with random
    # sampling a smaller cache misses often, and every miss decodes the clip's videos again.
    clip_cache: Positive = 256
    # Share of training examples whose background is held still (the reference frame's, in every frame) with a
    # caption that says so; only clips with masks and a clean background (A2Bench-Synth). Without it a snowy
    # reference always comes with falling snow, and the caption never has to be read to know the motion.
    still_background: Probability = 0.0
    # Share of training examples mirrored left-right (frames, poses with left/right renamed, and "left" <->
    # "right" in the caption): every drifting background is then seen going both ways from the same reference,
    # so only the caption can tell the direction.
    horizontal_flip: Probability = 0.0


class TaskConfig(Section):
    mix: dict[str, Annotated[float, Field(ge=0)]] = {"animate": 0.8, "ti2v": 0.2}
    # Partial parameter training: which groups receive gradients in each task.
    trainable: dict[str, list[str]] = {
        "animate": ["pose_guider", "ref_pose_encoder", "pose_indicator", "lora"],
        "ti2v": ["lora"],
    }
    patterns: dict[str, str] = {}  # custom group name -> regex on parameter names


class DropoutConfig(Section):
    pose: Probability = 0.05  # drop every pose condition (UniAnimate-DiT's rate)
    image: Probability = 0.1  # drop the image condition y and the CLIP tokens
    text: Probability = 0.0  # replace the caption by the empty prompt


@dataclasses.dataclass
class EPISettings(EPIConfig):
    """The `epi` section: every field of `animatex.pose.epi.EPIConfig` (its one definition), and `enabled`."""

    __pydantic_config__ = ConfigDict(extra="forbid")
    enabled: bool = True


class LoraConfig(Section):
    rank: Positive = 64
    alpha: float | None = None  # None: alpha = rank (scale 1, as the official merge)
    targets: Annotated[list[str], Field(min_length=1)] = [
        "to_q", "to_k", "to_v", "to_out.0", "ffn.net.0.proj", "ffn.net.2"
    ]  # fmt: skip


class OptimConfig(Section):
    lr: Annotated[float, Field(gt=0)] = 1e-4
    group_lr: dict[str, Annotated[float, Field(ge=0)]] = {"pose_indicator": 1e-5}
    weight_decay: float = 0.0
    betas: Annotated[list[float], Field(min_length=2, max_length=2)] = [0.9, 0.999]
    warmup_steps: Annotated[int, Field(ge=0)] = 0
    schedule: Literal["constant", "cosine", "linear"] = "constant"  # after warmup
    max_grad_norm: float = 1.0


class FlowConfig(Section):
    # The timestep shift of the flow-matching schedule (Wan uses 5 at 480p).
    shift: Annotated[float, Field(gt=0)] = 5.0
    timesteps: Literal["uniform", "logit_normal"] = "uniform"
    logit_mean: float = 0.0
    logit_std: Annotated[float, Field(gt=0)] = 1.0


class TrainSettings(Section):
    max_steps: Positive = 1000
    batch_size: Positive = 1  # per process
    grad_accum: Positive = 1
    seed: int = 0
    mixed_precision: Literal["auto", "no", "bf16", "fp16"] = "auto"  # auto: bf16 on GPU, fp32 on CPU
    gradient_checkpointing: bool = False
    # e.g. 0.999 keeps an EMA of the trained weights (diffusers' EMAModel); None keeps none.
    ema_decay: Annotated[float, Field(gt=0, lt=1)] | None = None
    # Entries of the cache of frozen encoders' outputs (VAE latents, text, frozen CLIP), keyed by content:
    # a big win on small datasets, useless on large ones (0 turns it off).
    encode_cache: Annotated[int, Field(ge=0)] = 256


class CheckpointConfig(Section):
    every: Positive = 500
    keep: Positive = 3


class LogConfig(Section):
    every: Positive = 10
    sample_every: Annotated[int, Field(ge=0)] = 0  # write a sample video every n steps (0: never)
    sample_steps: Positive = 8  # denoising steps of each sample video
    sample_guidance: float = 1.0  # CFG scale of the sample videos (1: off, fastest)
    sample_clip: int = 0  # dataset index of the fixed training clip the samples animate
    tensorboard: bool = False  # also write losses and learning rates to OUTPUT/tensorboard


class Config(Section):
    model: ModelConfig = ModelConfig()
    data: DataConfig = DataConfig()
    tasks: TaskConfig = TaskConfig()
    dropout: DropoutConfig = DropoutConfig()
    epi: EPISettings = Field(default_factory=EPISettings)
    lora: LoraConfig | None = LoraConfig()
    optim: OptimConfig = OptimConfig()
    flow: FlowConfig = FlowConfig()
    train: TrainSettings = TrainSettings()
    checkpoint: CheckpointConfig = CheckpointConfig()
    log: LogConfig = LogConfig()

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def check(self) -> None:
        """Checks across keys that the types alone do not catch."""
        data, tasks = self.data, self.tasks
        if self.model.pipeline is None and self.model.preset not in TRAINER_PRESETS:
            raise AnimatexError(
                f"model.preset: unknown preset {self.model.preset!r} (presets: {', '.join(TRAINER_PRESETS)}; "
                "start larger models from a converted pipeline folder with model.pipeline)"
            )
        if self.model.vae is not None and self.model.pipeline is not None:
            raise AnimatexError(
                "model.vae: only with model.preset; a model.pipeline folder brings its own VAE (--set model.vae=null)"
            )
        if (data.num_frames - 1) % 4 != 0:
            raise AnimatexError(f"data.num_frames: must be 4k+1 (5, 9, 17, 33, ...), got {data.num_frames}")
        if data.height % 16 or data.width % 16:
            raise AnimatexError(f"data.height/width: must be multiples of 16, got {data.height}x{data.width}")
        for task in tasks.mix:
            if task not in TASKS:
                raise AnimatexError(f"tasks.mix.{task}: unknown task (tasks: {', '.join(TASKS)})")
        if sum(tasks.mix.values()) <= 0:
            raise AnimatexError("tasks.mix: at least one task needs a positive weight")
        groups = set(BUILTIN_GROUPS) | set(tasks.patterns)
        for task, names in tasks.trainable.items():
            if task not in TASKS:
                raise AnimatexError(f"tasks.trainable.{task}: unknown task (tasks: {', '.join(TASKS)})")
            for name in names:
                if name not in groups:
                    raise AnimatexError(
                        f"tasks.trainable.{task}: unknown parameter group {name!r} (groups: {', '.join(sorted(groups))})"
                    )
                if name == "lora" and self.lora is None:
                    raise AnimatexError(
                        f"tasks.trainable.{task}: trains 'lora' but the config has `lora: null`"
                    )
        for task, weight in tasks.mix.items():
            if weight > 0 and not tasks.trainable.get(task):
                raise AnimatexError(
                    f"tasks.trainable.{task}: task {task} is mixed in but trains no parameter group"
                )
        for name in self.optim.group_lr:
            if name not in groups:
                raise AnimatexError(f"optim.group_lr.{name}: unknown parameter group")


class VAEConfig(Section):
    """The VAE trainer's settings (animatex.training.vae; configs/demo-vae/*.yaml)."""

    data: str  # dataset root (index.jsonl); trains on its train subset
    steps: Positive = 2000
    size: Annotated[int, Field(ge=8, multiple_of=8)] = 64  # frame width = height (the VAE's factor is 8)
    seed: int = 0
    lr: Annotated[float, Field(ge=0)] = 1e-3
    warmup: Annotated[int, Field(ge=0)] = 50
    image_batch: Positive = 8  # single frames per image step
    video_batch: Positive = 2  # chunks per video step
    # 1 + 4k frames: one causal first frame plus k 4-frame groups; None = the whole training clip. The small
    # VAE decodes well only as many chunks as it trained on (its causal cache drifts after that): trained on
    # 5-frame chunks it gave frames 6-17 of a 17-frame clip at ~11 dB, on 9-frame chunks frames 10-17 at 16-19
    # dB (frames 1-9 at 27 dB), on 17-frame chunks all 17 frames at 27 dB. Train on the length you decode.
    chunk_frames: Positive | None = None
    # Train on random crop x crop windows (a multiple of 8; None: whole frames). The VAE is convolutional, so
    # crops teach the same local code at a fraction of the cost per sample: a 32 px crop is 4x cheaper.
    crop: Annotated[int, Field(ge=8, multiple_of=8)] | None = None
    video_every: Annotated[int, Field(ge=0)] = 2  # every n-th step is a video step, the others image steps
    kl_weight: float = 1e-6
    grad_weight: float = 0.5
    # L1 between frame-to-frame differences of video batches: per-pixel L1 lets a small VAE blur fast particles
    # (snow, rain, sparks) into a still average and flicker static backdrops; this term penalises both.
    temporal_weight: float = 0.0
    # "mode" decodes the posterior mean: a plain autoencoder, which learns far faster than decoding samples
    # whose initial std of 1 drowns the small latents; the pipeline and trainer only ever use the mode.
    posterior: Literal["sample", "mode"] = "sample"
    eval_clips: Annotated[int, Field(ge=0)] = 16
    eval_data: str | None = None  # held-out dataset root; default: the test subset of `data`
    time_limit: float | None = None  # seconds; stop early (and still save) once exceeded
    stats_clips: Positive = 64
    init: str | None = None  # a pretrained AutoencoderKLWan folder to continue from (None: a fresh demo VAE)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def check(self) -> None:
        if self.crop is not None and self.crop > self.size:
            raise AnimatexError(f"crop: {self.crop} is larger than size {self.size}")
        if self.chunk_frames is not None and (self.chunk_frames - 1) % 4:
            raise AnimatexError(f"chunk_frames: must be 4k+1 for the Wan VAE, got {self.chunk_frames}")


# ---- reading ----------------------------------------------------------------------------------------------------


def _known_keys(schema: Any, loc: tuple) -> list[str]:
    """The keys allowed where `loc` points into `schema` (for "unknown key" messages)."""
    for key in loc[:-1]:
        fields = _fields(schema)
        if key not in fields:
            return []
        schema = fields[key]
    return sorted(_fields(schema))


def _fields(schema: Any) -> dict[str, Any]:
    for candidate in getattr(schema, "__args__", (schema,)):  # `LoraConfig | None`
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return {name: field.annotation for name, field in candidate.model_fields.items()}
        if dataclasses.is_dataclass(candidate):
            return {field.name: field.type for field in dataclasses.fields(candidate)}
    return {}


def _message(error: ValidationError, schema: type[Section]) -> str:
    """The first validation error as `dotted.key: what is wrong`."""
    first = error.errors()[0]
    loc = tuple(first["loc"])
    where = ".".join(str(part) for part in loc) or "config"
    if first["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
        return f"{where}: unknown key (known keys here: {', '.join(_known_keys(schema, loc))})"
    if first["type"] == "value_error":  # raised by a check in the model, e.g. EPIConfig's
        return f"{where}: {first['ctx']['error']}"
    if first["type"] == "missing":
        return f"{where}: required"
    return f"{where}: {first['msg'][0].lower()}{first['msg'][1:]}, got {first['input']!r}"


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """`--set KEY=VALUE` arguments -> {dotted key: YAML value}."""
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise AnimatexError(f"--set takes KEY=VALUE, got {item!r}")
        overrides[key] = yaml.safe_load(value)
    return overrides


def _apply(raw: dict, dotted: str, value: Any, path: Path) -> None:
    *parents, leaf = dotted.split(".")
    node = raw
    for depth, key in enumerate(parents):
        if node.get(key) is None:  # a missing section, or e.g. `lora: null` overridden by lora.rank=8
            node[key] = {}
        node = node[key]
        if not isinstance(node, dict):
            raise AnimatexError(f"{path}: {'.'.join(parents[: depth + 1])}: is a value, not a section")
    node[leaf] = value


def load_config(
    path: str | Path, overrides: dict[str, Any] | None = None, schema: type[Section] = Config
) -> Any:
    """Read, override (dotted keys, e.g. {"train.max_steps": 10}) and check a YAML config."""
    path = Path(path)
    if not path.is_file():
        raise AnimatexError(f"config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise AnimatexError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise AnimatexError(f"{path}: expected a mapping of keys at the top")
    for dotted, value in (overrides or {}).items():
        _apply(raw, dotted, value, path)
    try:
        config = schema.model_validate(raw)
        config.check()
    except ValidationError as error:
        raise AnimatexError(f"{path}: {_message(error, schema)}") from None
    except AnimatexError as error:
        raise AnimatexError(f"{path}: {error}") from None
    return config
