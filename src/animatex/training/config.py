"""The training configuration: one YAML file, every key known, checked before any work starts.

`load_config(path)` reads `configs/NAME.yaml` into nested dataclasses. An unknown key, a missing dataset or a
value of the wrong type stops with a message that names the key (`train.max_stepz: unknown key ...`).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from animatex.errors import AnimatexError
from animatex.pose.epi import EPIConfig

TASKS = ("animate", "ti2v")
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


@dataclass
class ModelConfig:
    pipeline: str | None = None  # a from_pretrained pipeline folder to start from; None builds `preset`
    # Used when `pipeline` is None: "tiny" (CI) or "demo" (the demo DiT, the pretrained all-MiniLM-L6-v2 text
    # encoder, a small random CLIP-style image encoder, the demo VAE); see animatex.pipelines.presets.
    preset: str = "tiny"
    overrides: dict[str, Any] = field(default_factory=dict)  # transformer config overrides for the preset
    vae: str | None = None  # a pretrained AutoencoderKLWan folder replacing the preset's random VAE
    # The sampler settings the exported pipeline uses when a call names none (its model_index.json);
    # None keeps the starting pipeline's (50 steps, CFG 3 for a preset).
    default_num_inference_steps: int | None = None
    default_guidance_scale: float | None = None
    default_text_guidance_scale: float | None = None  # the prompt-only guidance (1: off)
    # The exported sampler's flow shift (its scheduler_config.json); None keeps the starting pipeline's (5).
    scheduler_shift: float | None = None


@dataclass
class DataConfig:
    root: str = "data/synth"  # a dataset in the on-disk format (docs/data.md)
    subset: str | None = "train"  # only clips of this subset from the index; None takes all
    num_frames: int = 17  # frames per training clip, 4k+1
    frame_stride: int = 1  # take every n-th frame of the source video
    height: int = 64
    width: int = 64
    pose_pool_size: int = 256  # EPI anchors sampled from this many dataset poses
    # Decoded clips kept in memory (LRU). Make it at least the dataset size when that fits in RAM: with random
    # sampling a smaller cache misses often, and every miss decodes the clip's videos again.
    clip_cache: int = 256
    # Share of training examples whose background is held still (the reference frame's, in every frame) with a
    # caption that says so; only clips with masks and a clean background (A2Bench-Synth). Without it a snowy
    # reference always comes with falling snow, and the caption never has to be read to know the motion.
    still_background: float = 0.0
    # Share of training examples mirrored left-right (frames, poses with left/right renamed, and "left" <->
    # "right" in the caption): every drifting background is then seen going both ways from the same reference,
    # so only the caption can tell the direction.
    horizontal_flip: float = 0.0


@dataclass
class TaskConfig:
    mix: dict[str, float] = field(default_factory=lambda: {"animate": 0.8, "ti2v": 0.2})
    # Partial parameter training: which groups receive gradients in each task.
    trainable: dict[str, list[str]] = field(
        default_factory=lambda: {
            "animate": ["pose_guider", "ref_pose_encoder", "pose_indicator", "lora"],
            "ti2v": ["lora"],
        }
    )
    patterns: dict[str, str] = field(default_factory=dict)  # custom group name -> regex on parameter names


@dataclass
class DropoutConfig:
    pose: float = 0.05  # drop every pose condition (UniAnimate-DiT's rate)
    image: float = 0.1  # drop the image condition y and the CLIP tokens
    text: float = 0.0  # replace the caption by the empty prompt


@dataclass
class EPISettings:
    enabled: bool = True
    probability: float = 0.98  # lambda: how often the driving pose is transformed (reference.md section 5)
    params: dict[str, Any] = field(default_factory=dict)  # further animatex.pose.epi.EPIConfig fields


@dataclass
class LoraConfig:
    rank: int = 64
    alpha: float | None = None  # None: alpha = rank (scale 1, as the official merge)
    targets: list[str] = field(
        default_factory=lambda: ["to_q", "to_k", "to_v", "to_out.0", "ffn.net.0.proj", "ffn.net.2"]
    )


@dataclass
class OptimConfig:
    lr: float = 1e-4
    group_lr: dict[str, float] = field(default_factory=lambda: {"pose_indicator": 1e-5})
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    warmup_steps: int = 0
    schedule: str = "constant"  # constant | cosine | linear (after warmup)
    max_grad_norm: float = 1.0


@dataclass
class FlowConfig:
    shift: float = 5.0  # timestep shift of the flow-matching schedule (Wan uses 5 at 480p)
    timesteps: str = "uniform"  # uniform | logit_normal
    logit_mean: float = 0.0
    logit_std: float = 1.0


@dataclass
class TrainSettings:
    max_steps: int = 1000
    batch_size: int = 1  # per process
    grad_accum: int = 1
    seed: int = 0
    mixed_precision: str = "auto"  # auto (bf16 on GPU, fp32 on CPU) | no | bf16 | fp16
    gradient_checkpointing: bool = False
    ema_decay: float | None = None  # e.g. 0.999 keeps an EMA of the trainable weights
    # Entries of the cache of frozen encoders' outputs (VAE latents, text, frozen CLIP), keyed by content:
    # a big win on small datasets, useless on large ones (0 turns it off).
    encode_cache: int = 256


@dataclass
class CheckpointConfig:
    every: int = 500
    keep: int = 3


@dataclass
class LogConfig:
    every: int = 10
    sample_every: int = 0  # write a sample video every n steps (0: never)
    sample_steps: int = 8  # denoising steps of each sample video
    sample_guidance: float = 1.0  # CFG scale of the sample videos (1: off, fastest)
    sample_clip: int = 0  # dataset index of the fixed training clip the samples animate
    tensorboard: bool = False  # also write losses and learning rates to OUTPUT/tensorboard


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    tasks: TaskConfig = field(default_factory=TaskConfig)
    dropout: DropoutConfig = field(default_factory=DropoutConfig)
    epi: EPISettings = field(default_factory=EPISettings)
    lora: LoraConfig | None = field(default_factory=LoraConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    flow: FlowConfig = field(default_factory=FlowConfig)
    train: TrainSettings = field(default_factory=TrainSettings)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    log: LogConfig = field(default_factory=LogConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _build(cls: type, values: Any, where: str) -> Any:
    """Dataclass `cls` from a mapping, naming the offending key on any mismatch."""
    if not isinstance(values, dict):
        raise AnimatexError(f"{where or 'config'}: expected a mapping, got {type(values).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        name = f"{where}.{key}" if where else key
        if key not in known:
            raise AnimatexError(f"{name}: unknown key (known keys here: {', '.join(sorted(known))})")
        kwargs[key] = _coerce(hints[key], value, name)
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, name: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(inner, value, name)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, name)
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint in (int, str, bool):
        if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
            raise AnimatexError(f"{name}: expected {hint.__name__}, got {value!r}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise AnimatexError(f"{name}: expected a list, got {value!r}")
        return [_coerce(args[0], v, f"{name}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise AnimatexError(f"{name}: expected a mapping, got {value!r}")
        return {k: _coerce(args[1], v, f"{name}.{k}") for k, v in value.items()}
    if hint is Any:
        return value
    raise AnimatexError(f"{name}: cannot read a value of type {hint}")


def validate(config: Config) -> None:
    """Checks across keys that the types alone do not catch."""
    data, tasks = config.data, config.tasks
    if config.model.pipeline is None and config.model.preset not in TRAINER_PRESETS:
        raise AnimatexError(
            f"model.preset: unknown preset {config.model.preset!r} (presets: {', '.join(TRAINER_PRESETS)}; "
            "start larger models from a converted pipeline folder with model.pipeline)"
        )
    if config.model.vae is not None and config.model.pipeline is not None:
        raise AnimatexError(
            "model.vae: only with model.preset; a model.pipeline folder brings its own VAE (--set model.vae=null)"
        )
    steps = config.model.default_num_inference_steps
    if steps is not None and steps < 1:
        raise AnimatexError(f"model.default_num_inference_steps: must be >= 1, got {steps}")
    shift = config.model.scheduler_shift
    if shift is not None and not shift > 0:
        raise AnimatexError(f"model.scheduler_shift: must be > 0, got {shift}")
    for key in ("num_frames", "frame_stride", "height", "width", "pose_pool_size", "clip_cache"):
        if getattr(data, key) < 1:
            raise AnimatexError(f"data.{key}: must be >= 1, got {getattr(data, key)}")
    for key in ("still_background", "horizontal_flip"):
        if not 0.0 <= getattr(data, key) <= 1.0:
            raise AnimatexError(f"data.{key}: a probability in [0, 1], got {getattr(data, key)}")
    if (data.num_frames - 1) % 4 != 0 or data.num_frames < 1:
        raise AnimatexError(f"data.num_frames: must be 4k+1 (5, 9, 17, 33, ...), got {data.num_frames}")
    if data.height % 16 or data.width % 16:
        raise AnimatexError(f"data.height/width: must be multiples of 16, got {data.height}x{data.width}")
    for task, weight in tasks.mix.items():
        if task not in TASKS:
            raise AnimatexError(f"tasks.mix.{task}: unknown task (tasks: {', '.join(TASKS)})")
        if weight < 0:
            raise AnimatexError(f"tasks.mix.{task}: must be >= 0, got {weight}")
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
            if name == "lora" and config.lora is None:
                raise AnimatexError(f"tasks.trainable.{task}: trains 'lora' but the config has `lora: null`")
    for task in tasks.mix:
        if tasks.mix[task] > 0 and not tasks.trainable.get(task):
            raise AnimatexError(
                f"tasks.trainable.{task}: task {task} is mixed in but trains no parameter group"
            )
    for name in config.optim.group_lr:
        if name not in groups:
            raise AnimatexError(f"optim.group_lr.{name}: unknown parameter group")
    for key in ("pose", "image", "text"):
        rate = getattr(config.dropout, key)
        if not 0 <= rate <= 1:
            raise AnimatexError(f"dropout.{key}: must be in [0, 1], got {rate}")
    if not 0 <= config.epi.probability <= 1:
        raise AnimatexError(f"epi.probability: must be in [0, 1], got {config.epi.probability}")
    if "probability" in config.epi.params:
        raise AnimatexError("epi.params.probability: set it as epi.probability")
    try:
        epi_config(config)
    except TypeError as error:  # an unknown EPIConfig field
        raise AnimatexError(f"epi.params: {error}") from None
    except AnimatexError as error:
        raise AnimatexError(f"epi.params: {error}") from None
    if config.lora is not None and config.lora.rank < 1:
        raise AnimatexError(f"lora.rank: must be >= 1, got {config.lora.rank}")
    if config.lora is not None and not config.lora.targets:
        raise AnimatexError("lora.targets: name at least one projection (e.g. to_q)")
    if len(config.optim.betas) != 2:
        raise AnimatexError(f"optim.betas: two numbers, got {config.optim.betas}")
    if config.optim.lr <= 0 or any(lr < 0 for lr in config.optim.group_lr.values()):
        raise AnimatexError("optim.lr / optim.group_lr: learning rates must be positive")
    if config.flow.shift <= 0 or config.flow.logit_std <= 0:
        raise AnimatexError("flow.shift and flow.logit_std: must be > 0")
    if config.train.ema_decay is not None and not 0 < config.train.ema_decay < 1:
        raise AnimatexError(f"train.ema_decay: must be in (0, 1) or null, got {config.train.ema_decay}")
    if config.log.every < 1 or config.log.sample_every < 0 or config.log.sample_steps < 1:
        raise AnimatexError("log.every and log.sample_steps: must be >= 1; log.sample_every: >= 0")
    if config.optim.schedule not in ("constant", "cosine", "linear"):
        raise AnimatexError(f"optim.schedule: one of constant, cosine, linear; got {config.optim.schedule!r}")
    if config.flow.timesteps not in ("uniform", "logit_normal"):
        raise AnimatexError(f"flow.timesteps: one of uniform, logit_normal; got {config.flow.timesteps!r}")
    if config.train.mixed_precision not in ("auto", "no", "bf16", "fp16"):
        raise AnimatexError(
            f"train.mixed_precision: one of auto, no, bf16, fp16; got {config.train.mixed_precision!r}"
        )
    if config.optim.warmup_steps < 0:
        raise AnimatexError(f"optim.warmup_steps: must be >= 0, got {config.optim.warmup_steps}")
    if config.train.encode_cache < 0:
        raise AnimatexError(f"train.encode_cache: must be >= 0, got {config.train.encode_cache}")
    for key in ("max_steps", "batch_size", "grad_accum"):
        if getattr(config.train, key) < 1:
            raise AnimatexError(f"train.{key}: must be >= 1")
    if config.checkpoint.every < 1 or config.checkpoint.keep < 1:
        raise AnimatexError("checkpoint.every and checkpoint.keep: must be >= 1")


def _set(root: dict, keys: list[str], value: Any) -> None:
    for key in keys[:-1]:
        root = root[key]
    root[keys[-1]] = value


def epi_config(config: Config) -> EPIConfig:
    """The `animatex.pose.epi.EPIConfig` that `epi.probability` and `epi.params` describe."""
    return EPIConfig(probability=config.epi.probability, **config.epi.params)


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> Config:
    """Read, override (dotted keys, e.g. {"train.max_steps": 10}) and validate a YAML config."""
    path = Path(path)
    if not path.is_file():
        raise AnimatexError(f"config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise AnimatexError(f"{path}: not valid YAML ({error})") from error
    if not isinstance(raw, dict):
        raise AnimatexError(f"{path}: expected a mapping of sections (model, data, ...) at the top")
    for dotted, value in (overrides or {}).items():
        node = raw
        *parents, leaf = dotted.split(".")
        for depth, key in enumerate(parents):
            node = node.setdefault(key, {})
            if node is None:  # e.g. `lora: null` overridden by lora.rank=8
                node = {}
                _set(raw, parents[: depth + 1], node)
            if not isinstance(node, dict):
                raise AnimatexError(f"{path}: {'.'.join(parents[: depth + 1])}: is a value, not a section")
        node[leaf] = value
    try:
        config = _build(Config, raw, "")
        validate(config)
    except AnimatexError as error:
        raise AnimatexError(f"{path}: {error}") from None
    return config
