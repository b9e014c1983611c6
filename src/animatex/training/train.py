"""The animatex trainer: multi-task (animate + ti2v) flow matching with EPI, IPI and partial parameter training.

One accelerate script (DiT/nanoGPT style): helpers, then `train(...)`, then the command line. Runs as
`animatex train --config configs/NAME.yaml` or under `accelerate launch -m animatex.training.train ...` for
several processes (data parallel: gradients averaged by one flat `accelerator.reduce`). Every random decision is derived
from (seed, step, micro-batch, process), so `--resume` continues bit for bit where a killed run stopped.
See docs/training.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator, PartialState
from accelerate.state import AcceleratorState
from accelerate.utils import ProjectConfiguration
from diffusers.optimization import get_scheduler
from diffusers.training_utils import EMAModel, cast_training_params
from tqdm.auto import tqdm

from animatex.errors import AnimatexError
from animatex.pipelines.presets import save_pipeline
from animatex.training.arguments import add_arguments
from animatex.training.checkpoint import (
    latest_checkpoint,
    load_checkpoint,
    log_row,
    prepare_run_folder,
    raise_write_error,
    save_checkpoint,
    write_error,
)
from animatex.training.config import Config, load_config, parse_overrides
from animatex.training.data import TrainingData
from animatex.training.encode import EncodeCache, encode_batch
from animatex.training.flow import add_noise, flow_matching_loss, sample_sigmas
from animatex.training.params import add_lora, named_groups, trainable_names
from animatex.training.sampling import StepPlan, generator, plan_step

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    output_dir: Path
    steps: int  # the step the run stopped at
    losses: list[float]  # one per optimizer step run in this call, averaged over processes
    pipeline_dir: Path | None  # the exported pipeline folder, when the run reached max_steps
    params: dict[str, torch.nn.Parameter]  # every trained parameter, as it ended (before the LoRA merge)


@dataclass
class TrainModel:
    """The pipeline and the bookkeeping of partial parameter training."""

    pipe: Any  # AnimateXPipeline
    modules: dict[str, torch.nn.Module]  # the modules whose parameters may train, by group prefix
    groups: dict[str, list[str]]  # parameter group -> full parameter names
    params: dict[str, torch.nn.Parameter]  # every parameter some task trains
    task_params: dict[str, set[str]]  # task -> names of the parameters that task trains
    uses_lora: bool


# ---- model -----------------------------------------------------------------------------------------------------


def _new_accelerator(config: Config, output_dir: Path) -> Accelerator:
    """The run's `Accelerator` (TensorBoard through its trackers); in a lone process, a fresh one each call."""
    # accelerate keeps one state per process and raises on a second Accelerator with another mixed precision
    # (test_trains_twice_in_one_process_with_different_mixed_precision: a notebook's second run); it has no
    # public reset, so a lone process resets the private one. A launcher's processes (WORLD_SIZE > 1) keep theirs.
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        AcceleratorState._reset_state(reset_partial_state=True)
    # cpu=True on a machine without CUDA: accelerate then runs several launched processes as MULTI_CPU (gloo);
    # without it a CPU process under torchrun/`accelerate launch --multi_gpu` would train alone.
    precision = config.train.mixed_precision
    return Accelerator(
        mixed_precision=("bf16" if torch.cuda.is_available() else "no") if precision == "auto" else precision,
        cpu=not torch.cuda.is_available(),
        log_with="tensorboard" if config.log.tensorboard else None,
        project_config=ProjectConfiguration(project_dir=str(output_dir), logging_dir=str(output_dir)),
    )


def _as_list(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _check_overrides(overrides: dict[str, Any], transformer_config: Any, path: Path) -> None:
    """A pipeline folder's transformer fixes its architecture: `model.overrides` may only repeat it."""
    for key, value in overrides.items():
        if key not in transformer_config:
            raise AnimatexError(f"model.overrides.{key}: the transformer in {path} has no such config field")
        saved = transformer_config[key]
        if _as_list(saved) != _as_list(value):  # a saved config holds (1, 2, 2) where YAML gives [1, 2, 2]
            raise AnimatexError(
                f"model.overrides.{key}: {value!r}, but the transformer in {path} was built with {saved!r}; a "
                "pipeline folder brings its architecture (drop the override, e.g. --set 'model.overrides={}')"
            )


def _build_pipeline(config: Config):
    from animatex.pipelines import AnimateXPipeline
    from animatex.pipelines.presets import build_pipeline

    if config.model.pipeline is not None:
        path = Path(config.model.pipeline)
        if not (path / "model_index.json").is_file():
            raise AnimatexError(f"model.pipeline: {path} is not a pipeline folder (no model_index.json)")
        pipe = AnimateXPipeline.from_pretrained(path)
        _check_overrides(config.model.overrides, pipe.transformer.config, path)
    else:
        try:
            pipe = build_pipeline(
                config.model.preset, seed=config.train.seed, vae=config.model.vae, **config.model.overrides
            )
        except (ValueError, TypeError) as error:
            raise AnimatexError(f"model.overrides: {error}") from None
        # A model built here samples by default at the area it is trained at (a folder keeps its own).
        pipe.register_to_config(default_max_area=config.data.height * config.data.width)
    settings = (
        "default_num_inference_steps", "default_guidance_scale", "default_text_guidance_scale",
        "reference_in_every_frame",
    )  # fmt: skip
    pipe.register_to_config(**{k: v for k in settings if (v := getattr(config.model, k)) is not None})
    if config.model.scheduler_shift is not None:
        scheduler = type(pipe.scheduler).from_config(
            pipe.scheduler.config, shift=config.model.scheduler_shift
        )
        pipe.register_modules(scheduler=scheduler)
    return pipe


def _trainable_modules(pipe) -> dict[str, torch.nn.Module]:
    modules = {"transformer": pipe.transformer, "image_encoder": pipe.image_encoder}
    if getattr(pipe, "motion_encoder", None) is not None:
        modules["motion_encoder"] = pipe.motion_encoder
    return {k: v for k, v in modules.items() if v is not None}


def build_model(config: Config) -> TrainModel:
    """The pipeline with LoRA attached, every parameter frozen except those some active task trains."""
    torch.manual_seed(config.train.seed)
    pipe = _build_pipeline(config)
    uses_lora = any("lora" in names for names in config.tasks.trainable.values())
    if uses_lora:
        try:
            add_lora(pipe.transformer, config.lora)
        except ValueError as error:
            raise AnimatexError(f"lora.targets: {error}") from None
    modules = _trainable_modules(pipe)
    groups = named_groups(modules, config)
    task_params = {}
    for task, weight in config.tasks.mix.items():
        if weight > 0:
            try:
                task_params[task] = trainable_names(groups, config.tasks.trainable[task])
            except AnimatexError as error:
                raise AnimatexError(f"tasks.trainable.{task}: {error}") from None
    trained = set().union(*task_params.values())
    for prefix, module in modules.items():
        for name, param in module.named_parameters():
            param.requires_grad_(f"{prefix}.{name}" in trained)
    # Trained weights live in float32 (Adam on bf16 weights loses small updates); autocast runs the maths in
    # bf16 on GPU. Frozen weights keep the dtype they were loaded in.
    cast_training_params(list(modules.values()), dtype=torch.float32)
    params = {
        f"{prefix}.{name}": param
        for prefix, module in modules.items()
        for name, param in module.named_parameters()
        if param.requires_grad
    }
    for frozen in (pipe.vae, pipe.text_encoder):
        if frozen is not None:
            frozen.requires_grad_(False)
            frozen.eval()
    for prefix, module in modules.items():
        # Only modules that learn run in training mode (dropout); a frozen encoder stays deterministic.
        module.train(any(name.startswith(prefix + ".") for name in params))
    if config.train.gradient_checkpointing:
        pipe.transformer.enable_gradient_checkpointing()
    pipe.set_progress_bar_config(disable=True)
    return TrainModel(pipe, modules, groups, params, task_params, uses_lora)


# ---- optimisation ----------------------------------------------------------------------------------------------


def build_optimizer(config: Config, model: TrainModel, total_steps: int):
    """AdamW with one parameter group per trained group (its own lr), and the LR schedule."""
    param_groups = []
    for group, names in model.groups.items():
        chosen = [model.params[n] for n in names if n in model.params]
        if chosen:
            lr = config.optim.group_lr.get(group, config.optim.lr)
            param_groups.append({"params": chosen, "lr": lr, "name": group})
    optimizer = torch.optim.AdamW(
        param_groups,
        lr=config.optim.lr,
        betas=tuple(config.optim.betas),
        weight_decay=config.optim.weight_decay,
    )
    scheduler = get_scheduler(
        config.optim.schedule,
        optimizer,
        num_warmup_steps=config.optim.warmup_steps,
        num_training_steps=total_steps,
    )
    return optimizer, scheduler


def _average_grads(params: list[torch.nn.Parameter], accelerator: Accelerator) -> None:
    """Average gradients over processes in one flat `accelerator.reduce` (data parallel).

    Not `accelerator.prepare(model)` (DDP): several modules train together (DiT, image and motion encoders), and
    the pipeline calls them itself while encoding, so there is no one module to wrap; and a step may leave whole
    groups unused (a dropped pose condition, the ti2v task). A parameter no process produced a gradient for
    keeps `grad = None`, so it takes no optimizer step, exactly as in a single-process run (a zero gradient
    would still move it through Adam's momentum).
    """
    if accelerator.num_processes == 1 or not params:
        return
    device = params[0].device
    present = torch.tensor([p.grad is not None for p in params], dtype=torch.float32, device=device)
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = accelerator.reduce(torch.cat([g.reshape(-1).float() for g in grads] + [present]), reduction="mean")
    offset = 0
    for param, count in zip(params, flat[-len(params) :].tolist(), strict=True):
        size = param.numel()
        param.grad = flat[offset : offset + size].view_as(param).to(param.dtype) if count > 0 else None
        offset += size


def _micro_step_loss(
    model: TrainModel,
    data: TrainingData,
    cache: EncodeCache,
    config: Config,
    plan: StepPlan,
    step: int,
    micro: int,
    rank: int,
    world: int,
) -> torch.Tensor:
    """The flow-matching loss of one micro-batch: examples -> latents and conditions -> x_t -> velocity MSE."""
    pipe = model.pipe
    device = pipe.transformer.device
    examples = data.examples(step, micro, rank, world)
    # Dropout inside the model draws from the global RNG: seed it per micro-batch for an exact resume.
    torch.manual_seed(int(generator(config.train.seed, 3, step, micro, rank).integers(2**62)))
    noise_gen = torch.Generator().manual_seed(
        int(generator(config.train.seed, 4, step, micro, rank).integers(2**62))
    )
    batch = encode_batch(pipe, examples, plan, device, cache)
    latents = batch.pop("latents")
    noise = torch.randn(latents.shape, generator=noise_gen).to(device, latents.dtype)
    sigmas = sample_sigmas(latents.shape[0], config.flow, noise_gen).to(device)
    hidden_states = torch.cat([add_noise(latents, noise, sigmas), batch.pop("condition")], dim=1)
    prediction = pipe.transformer(
        hidden_states=hidden_states.to(pipe.transformer.dtype),
        timestep=sigmas * pipe.scheduler.config.num_train_timesteps,
        return_dict=False,
        **batch,
    )[0]
    return flow_matching_loss(prediction, latents, noise)


# ---- checkpoints, logs, samples ----------------------------------------------------------------------------------


def _restore(
    checkpoint: Path, model: TrainModel, optimizer, scheduler, ema: EMAModel | None, config: Config
) -> int:
    """Load a checkpoint into the model, optimizer, schedule and EMA; returns the step it was taken at."""
    saved = load_checkpoint(checkpoint)
    missing = sorted(set(model.params) - set(saved["trainable"]))
    if missing:
        raise AnimatexError(f"{checkpoint} does not match this config: no weights for {missing[:3]}")
    for name, value in saved["trainable"].items():
        if name in model.params and value.shape != model.params[name].shape:
            raise AnimatexError(
                f"{checkpoint}: {name} has shape {tuple(value.shape)}, this config builds "
                f"{tuple(model.params[name].shape)} (did lora.rank or model.* change?)"
            )
    with torch.no_grad():
        for name, param in model.params.items():
            param.copy_(saved["trainable"][name])
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    step = int(saved["state"]["step"])
    if ema is not None:
        if saved["ema"] is None:
            raise AnimatexError(f"{checkpoint} holds no EMA weights but train.ema_decay is set")
        with torch.no_grad():
            for shadow, name in zip(ema.shadow_params, model.params, strict=True):
                shadow.copy_(saved["ema"][name])
        ema.optimization_step = step  # one EMA update per optimizer step: its warmup continues where it was
    before = saved["state"].get("config", {})
    now = config.to_dict()
    changed = [f"{s}.{k}" for s in now for k in now[s] or {} if (before.get(s) or {}).get(k) != now[s][k]]
    if changed:
        logger.warning(f"resuming {checkpoint} with changed settings: {', '.join(changed)}")
    return step


def write_sample(model: TrainModel, data: TrainingData, config: Config, path: Path) -> Path:
    """Animate the fixed training clip with the current weights; mp4 of [ground truth | pose | sample]."""
    from animatex.io import write_video

    example = data.fixed_example(config.log.sample_clip)
    pipe = model.pipe
    was_training = {name: module.training for name, module in model.modules.items()}
    for module in model.modules.values():
        module.eval()
    try:
        frames = pipe(
            image=example.reference,
            pose_video=example.pose_video,
            pose_keypoints=example.keypoints,
            driving_video=example.video,
            ref_pose=example.ref_pose,
            prompt=example.caption,
            num_frames=len(example.video),
            height=config.data.height,
            width=config.data.width,
            num_inference_steps=config.log.sample_steps,
            guidance_scale=config.log.sample_guidance,
            generator=torch.Generator().manual_seed(config.train.seed),
            output_type="np",
        ).frames[0]
    finally:
        for name, module in model.modules.items():
            module.train(was_training[name])
    sample = (np.clip(frames, 0, 1) * 255).round().astype(np.uint8)
    return write_video(path, np.concatenate([example.video, example.pose_video, sample], axis=2))


def export_pipeline(model: TrainModel, ema: EMAModel | None, path: Path) -> None:
    """save_pretrained with the EMA weights (when kept) and the LoRA merged into the DiT."""
    pipe = model.pipe
    if ema is not None:
        ema.copy_to(model.params.values())
    if model.uses_lora:
        pipe.transformer.fuse_lora(lora_scale=1.0)
        pipe.transformer.unload_lora()
    if pipe.transformer.is_gradient_checkpointing:
        pipe.transformer.disable_gradient_checkpointing()
    for module in model.modules.values():
        module.eval()
    pipe.to("cpu")
    save_pipeline(pipe, path)


# ---- the loop ------------------------------------------------------------------------------------------------------

StepCallback = Callable[[int, StepPlan, TrainModel], None]


def train(
    config: Config,
    output_dir: str | Path,
    max_steps: int | None = None,
    resume: bool = False,
    stop_after: int | None = None,
    progress: bool = True,
    callback: StepCallback | None = None,
    overwrite: bool = False,
) -> TrainResult:
    """Train, checkpoint and export a pipeline folder.

    Args:
        max_steps: Overrides `train.max_steps` (the LR schedule's length too).
        resume: Continue from the latest checkpoint in `output_dir` (from scratch when there is none).
        stop_after: End after this step without exporting, as a kill would (for tests).
        callback: `fn(step, plan, model)` after every optimizer step, on every process.
        overwrite: Write into an `output_dir` that holds files animatex did not make.
    """
    output_dir = Path(output_dir)
    total_steps = max_steps or config.train.max_steps
    accelerator = _new_accelerator(config, output_dir)
    rank, world = accelerator.process_index, accelerator.num_processes
    if accelerator.is_main_process:
        prepare_run_folder(output_dir, resume, overwrite)
        try:
            (output_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2))
        except OSError as error:
            raise write_error(output_dir / "config.json", error) from None
    accelerator.wait_for_everyone()

    # 1. Data first (a missing dataset fails in a second), then the model and its parameter groups
    data = TrainingData(config)
    model = build_model(config)
    cache = EncodeCache(config.train.encode_cache)
    device = accelerator.device
    model.pipe.to(device)
    if device.type == "cpu":
        # As for inference (animatex.animate.load_pipeline): a frozen component stored in half precision (the
        # demo model's text encoder) computes in float32 on the CPU, where bf16 autocast cannot run fp16 weights.
        model.pipe.to(dtype=torch.float32)

    # 2. Optimizer (prepared: fp16 loss scaling), LR schedule, EMA, and the checkpoint to resume from. The
    # schedule stays unprepared: accelerate's steps it once per process per step, ours counts optimizer steps.
    optimizer, scheduler = build_optimizer(config, model, total_steps)
    optimizer = accelerator.prepare(optimizer)
    ema = None
    if config.train.ema_decay is not None:
        # diffusers' EMA: decay min(ema_decay, (1 + n) / (10 + n)) after n >= 1 updates, the first a plain copy
        ema = EMAModel(model.params.values(), decay=config.train.ema_decay)
    start = 0
    if resume and (checkpoint := latest_checkpoint(output_dir)) is not None:
        start = _restore(checkpoint, model, optimizer, scheduler, ema, config)
    accelerator.init_trackers("tensorboard")

    # 3. The loop: one task per optimizer step, shared by all processes
    losses: list[float] = []
    end = total_steps if stop_after is None else min(total_steps, stop_after)
    bar = tqdm(
        range(start, end),
        initial=start,
        total=total_steps,
        disable=not (progress and accelerator.is_main_process),
    )
    for step in bar:
        began = time.perf_counter()
        step_loss = 0.0
        task = plan_step(config, step, 0, rank).task
        for micro in range(config.train.grad_accum):
            plan = plan_step(config, step, micro, rank)
            with accelerator.autocast():
                loss = _micro_step_loss(model, data, cache, config, plan, step, micro, rank, world)
            accelerator.backward(loss / config.train.grad_accum)
            step_loss += float(loss.detach()) / config.train.grad_accum

        # Partial parameter training: parameters outside this task's groups take no step at all (AdamW
        # skips a parameter whose grad is None, so its moments and weight decay stay untouched too).
        for name, param in model.params.items():
            if name not in model.task_params[task]:
                param.grad = None
        _average_grads([model.params[n] for n in sorted(model.task_params[task])], accelerator)
        if config.optim.max_grad_norm > 0:
            accelerator.clip_grad_norm_(
                [p for p in model.params.values() if p.grad is not None], config.optim.max_grad_norm
            )
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        if ema is not None:
            ema.step(model.params.values())

        done = step + 1
        mean_loss = float(accelerator.gather(torch.tensor([step_loss], device=device)).mean())
        losses.append(mean_loss)
        if not math.isfinite(mean_loss):
            raise AnimatexError(
                f"the loss became {mean_loss} at step {done}: lower optim.lr or check the data"
            )
        if accelerator.is_main_process:
            bar.set_postfix(loss=f"{mean_loss:.4f}", task=task)
            if done % config.log.every == 0 or done == end:
                lrs = {group["name"]: group["lr"] for group in optimizer.param_groups}
                seconds, lr = time.perf_counter() - began, next(iter(lrs.values()))
                log_row(
                    output_dir,
                    step=done,
                    task=task,
                    loss=f"{mean_loss:.6f}",
                    lr=f"{lr:.3e}",
                    seconds=f"{seconds:.3f}",
                )
                scalars = {f"lr/{group}": lr for group, lr in lrs.items()}
                accelerator.log({"loss": mean_loss, f"loss/{task}": mean_loss, **scalars}, step=done)
            if config.log.sample_every and done % config.log.sample_every == 0:
                write_sample(model, data, config, output_dir / "samples" / f"step-{done:08d}.mp4")
            if done % config.checkpoint.every == 0 or done == total_steps:
                save_checkpoint(
                    output_dir, done, model.params, optimizer, scheduler, {"config": config.to_dict()},
                    keep=config.checkpoint.keep,
                    ema=None if ema is None else dict(zip(model.params, ema.shadow_params, strict=True)),
                )  # fmt: skip
        if callback is not None:
            callback(done, plan_step(config, step, 0, rank), model)
        accelerator.wait_for_everyone()

    # 4. Export a pipeline folder that AnimateXPipeline.from_pretrained loads
    pipeline_dir = None
    if end == total_steps:
        pipeline_dir = output_dir / "pipeline"
        if accelerator.is_main_process:
            try:
                export_pipeline(model, ema, pipeline_dir)
            except Exception as error:
                raise_write_error(pipeline_dir, error)
                raise
        accelerator.wait_for_everyone()
    accelerator.end_training()
    return TrainResult(output_dir, end, losses, pipeline_dir, model.params)


# ---- command line --------------------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> TrainResult:
    if args.max_steps is not None and args.max_steps < 1:
        raise AnimatexError(f"--max-steps: must be >= 1, got {args.max_steps}")
    config = load_config(args.config, parse_overrides(args.set))
    output = args.output or os.path.join("runs", Path(args.config).stem)
    result = train(config, output, max_steps=args.max_steps, resume=args.resume, overwrite=args.overwrite)
    if result.pipeline_dir is not None and PartialState().is_main_process:
        print(f"trained pipeline written to {result.pipeline_dir}")
    return result


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    run(parser.parse_args(argv))


if __name__ == "__main__":
    main()
