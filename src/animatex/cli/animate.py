"""`animatex animate`: a reference picture + a driving video (or pose file) -> a video of the character."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from animatex.cli.arguments import finite_float, positive_int, seed

VIDEO_OUTPUTS = (".mp4", ".gif")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "animate",
        help="animate a character picture with a driving video or pose file",
        description="Animate the character in a reference picture with the motion of a driving video (its "
        "poses are detected) or of a pose .npz (`animatex pose extract`), optionally retargeted to the "
        "character's proportions; the prompt sets what the background does. See docs/cli.md.",
    )
    parser.add_argument("--reference", type=Path, required=True, help="the character picture (png, jpg, ...)")
    parser.add_argument("--driving", type=Path, required=True,
                        help="driving video (mp4, gif, frame folder, ...) or a pose file (.npz)")  # fmt: skip
    parser.add_argument("-o", "--output", type=Path, required=True, help="video to write (.mp4 or .gif)")
    parser.add_argument("--prompt", default="",
                        help='text, e.g. "a cat dances, the snow is falling behind it" (default: empty)')  # fmt: skip
    parser.add_argument("--align", choices=("none", "global", "bones"), default="bones",
                        help="retarget the driving pose to the reference: none, global (scale + shift) or bones "
                        "(the reference's bone lengths; default)")  # fmt: skip
    parser.add_argument("--model", type=Path,
                        help="AnimateXPipeline folder (default: the demo model in weights/animatex-demo)")  # fmt: skip
    parser.add_argument("--steps", type=positive_int,
                        help="denoising steps (default: the model's own, in its model_index.json)")  # fmt: skip
    parser.add_argument("--guidance", type=finite_float,
                        help="CFG scale; <= 1 turns CFG off (default: the model's own)")  # fmt: skip
    parser.add_argument(
        "--text-guidance", type=finite_float,
        help="guidance on the prompt alone (what the background does); <= 1 turns it off (default: the model's own)",
    )  # fmt: skip
    parser.add_argument("--seed", type=seed, default=0, help="noise seed (default 0)")
    parser.add_argument("--frames", type=positive_int, help="frames to generate (default all)")
    parser.add_argument("--size", help="output WIDTHxHEIGHT, e.g. 832x480 (default: the reference's size)")
    parser.add_argument("--task", choices=("animate", "ti2v"), default="animate",
                        help="animate (pose-driven, default) or ti2v (the prompt drives the whole video)")  # fmt: skip
    windows = parser.add_argument_group(
        "long videos",
        "a driving video longer than the model's native length runs in windows (docs/pipeline.md)",
    )
    windows.add_argument("--window-strategy", choices=("chain", "context", "none"),
                         help="chain: each window continues from the last frames of the one before; context: "
                         "overlapping windows blended at every step; none: one window, however long (default: "
                         "the model's own, chain for the demo model)")  # fmt: skip
    windows.add_argument("--window", type=positive_int,
                         help="window length in frames, 4k+1 (default: the model's native length; demo 17, Wan 81)")  # fmt: skip
    windows.add_argument("--overlap", type=positive_int,
                         help="chain: frames carried into the next window, 4j+1 (default 5); context: frames two "
                         "windows share, a multiple of 4 (default 8)")  # fmt: skip
    windows.add_argument("--colour-match", action="store_true",
                         help="chain: match each window's colours to the previous window's over the overlap")  # fmt: skip
    windows.add_argument("--carry-noise", type=finite_float, default=0.0,
                         help="chain: noise added to the carried frames' latents (default 0)")  # fmt: skip
    windows.add_argument("--no-crossfade", action="store_true",
                         help="chain: start each window where the carried frames end instead of blending them")  # fmt: skip
    parser.add_argument(
        "--backend", choices=("mediapipe", "dwpose"), default="mediapipe", help="pose detector"
    )
    parser.add_argument("--dwpose-dir", type=Path, help="folder with the DWPose ONNX files (dwpose backend)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cuda (default cpu)")
    parser.add_argument(
        "--context-parallel", choices=("ulysses", "ring"),
        help="shard one video over several GPUs, one process each: launch with `torchrun --nproc-per-node N -m "
        "animatex animate ... --device cuda --context-parallel ulysses` (docs/pipeline.md)",
    )  # fmt: skip
    parser.add_argument(
        "--memory", type=_checked(memory_modes),
        help="memory modes joined with +, e.g. fp8+group-offload+vae-tiling: model-offload, sequential-offload, "
        "group-offload, fp8, vae-tiling, vae-slicing, text-encoder-cpu (default: all on --device; docs/pipeline.md)",
    )  # fmt: skip
    parser.add_argument(
        "--gguf", type=Path,
        help="a GGUF file of the transformer (`animatex quantize`, Q8_0/Q4_0) used instead of the folder's "
        "transformer weights; the pose modules come from --model (docs/weights.md)",
    )  # fmt: skip
    parser.add_argument(
        "--cache", type=_checked(cache_spec),
        help="step cache: fbc[:threshold], taylorseer[:interval], magcache[:threshold] (after `animatex cache "
        "calibrate`), pab[:range] or fastercache[:range] (these two need one transformer call a step: --guidance 1 or "
        "batched guidance) or none (default none; docs/pipeline.md)",
    )  # fmt: skip
    parser.add_argument(
        "--lora", action="append", type=_checked(lora_spec), metavar="FILE[:SCALE]",
        help="merge a LoRA .safetensors into the transformer (repeatable; scale default 1), e.g. a few-step "
        "distillation LoRA for Wan2.1-I2V with --steps 4 --guidance 1 (docs/weights.md)",
    )  # fmt: skip
    parser.add_argument(
        "--attention", type=_checked(attention_backend), metavar="BACKEND",
        help="diffusers attention backend, e.g. _native_flash, flash, sage (CUDA); on the CPU native, _native_flash, "
        "_native_math or flex (default: diffusers' own, native)",
    )  # fmt: skip
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile the transformer's blocks (the first steps pay for compiling)")  # fmt: skip
    parser.add_argument(
        "--batch-guidance", action=argparse.BooleanOptionalAction,
        help="run the guidance branches (CFG, text guidance) as one batched forward: faster, more activation "
        "memory (default: batched unless the GPU lacks the memory)",
    )  # fmt: skip
    parser.add_argument(
        "--grid", type=Path, help="also write reference | driving | pose | result side by side"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    parser.set_defaults(func=run)


def _checked(check):
    """An argparse `type` that runs `check` on the text and reports its message as a usage error."""

    def parse(text: str) -> str:
        from animatex.errors import AnimatexError

        try:
            check(text)
        except AnimatexError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
        return text

    parse.__name__ = check.__name__
    return parse


def check_speed_options(args: argparse.Namespace) -> None:
    """--memory, --attention and --compile against the device, --cache against the model folder and the --lora
    files, before any input is read."""
    from animatex.animate import default_model_dir
    from animatex.parallel import check_context_parallel, check_parallel_options
    from animatex.pipelines.memory import check_memory_mode
    from animatex.pipelines.speed import check_attention_backend, check_cache, check_compile

    check_memory_mode(args.memory, args.device)
    check_context_parallel(args.context_parallel, args.device)
    check_parallel_options(args.context_parallel, args.compile, args.memory)
    check_cache(args.cache, args.model if args.model is not None else default_model_dir())
    check_attention_backend(args.attention, args.device)
    if args.compile:
        check_compile(args.device)
    if args.gguf is not None:
        from animatex.convert.gguf import check_gguf_options

        check_gguf_options(args.gguf, args.memory)
    for spec in args.lora or ():
        from animatex.pipelines.lora import check_lora_file, parse_lora_spec

        check_lora_file(parse_lora_spec(spec).path)


def memory_modes(text: str) -> None:
    from animatex.pipelines.memory import parse_memory_mode

    parse_memory_mode(text)


def attention_backend(text: str) -> None:
    from animatex.pipelines.speed import parse_attention_backend

    parse_attention_backend(text)


def cache_spec(text: str) -> None:
    from animatex.pipelines.speed import parse_cache_spec

    parse_cache_spec(text)


def lora_spec(text: str) -> None:
    from animatex.pipelines.lora import parse_lora_spec

    parse_lora_spec(text)


def print_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    """`warnings.showwarning` for the CLI: one line, no source location."""
    print(f"animatex: note: {message}", file=sys.stderr)


def check_outputs(paths: list[Path | None], overwrite: bool) -> None:
    """Refuse a bad suffix, an existing file or an unwritable folder before any slow work."""
    from animatex.errors import AnimatexError
    from animatex.io.atomic import check_writable

    for path in paths:
        if path is None:
            continue
        if path.suffix.lower() not in VIDEO_OUTPUTS:
            raise AnimatexError(f"{path}: write videos as .mp4 or .gif")
        if path.exists() and not overwrite:
            raise AnimatexError(f"{path} already exists; pass --overwrite to replace it")
        check_writable(path)


def check_model_dir(model: Path | None) -> None:
    """The quick part of loading a model: its folder and model_index.json exist (the load comes last)."""
    from animatex.errors import AnimatexError

    if model is None:
        return  # the demo model: `load_pipeline` says where it looked
    if not model.is_dir():
        raise AnimatexError(f"model folder not found: {model} (pass --model with an AnimateXPipeline folder)")
    if not (model / "model_index.json").is_file():
        raise AnimatexError(f"{model} is not a pipeline folder: it has no model_index.json")


def run(args: argparse.Namespace) -> int:
    from animatex.errors import AnimatexError

    # Every input is checked (and read) before the model loads: a typo should not cost a model load.
    check_outputs([args.output, args.grid], args.overwrite)
    if args.grid is not None and args.grid.resolve() == args.output.resolve():
        raise AnimatexError("--grid and -o name the same file; give the grid its own name")
    for name, path in (("--reference", args.reference), ("--driving", args.driving)):
        if not path.exists():
            raise AnimatexError(f"{name} {path} not found")
    check_model_dir(args.model)
    check_speed_options(args)
    if args.carry_noise < 0:
        raise AnimatexError(f"--carry-noise must be >= 0, got {args.carry_noise}")
    if args.window is not None and args.window_strategy in ("chain", "context"):
        from animatex.pipelines.windows import check_settings, default_overlap

        overlap = (
            args.overlap if args.overlap is not None else default_overlap(args.window_strategy, args.window)
        )
        check_settings(args.window_strategy, args.window, overlap)

    from animatex.animate import (
        animate,
        animation_grid,
        detect_reference_pose,
        load_pipeline,
        parse_size,
        plan_line,
        read_driving,
    )
    from animatex.io import VideoWriter, read_image, write_video
    from animatex.parallel import launched_processes, start_context_parallel
    from animatex.pipelines.windows import WindowSettings

    size = parse_size(args.size) if args.size is not None else None
    with warnings.catch_warnings():
        warnings.showwarning = print_warning
        reference = read_image(args.reference)
        driving, poses = read_driving(args.driving, args.frames, args.backend, args.dwpose_dir)
        reference_pose = None
        if args.task == "animate":  # retargeting and the reference-pose encoder read it
            reference_pose = detect_reference_pose(
                reference, args.backend, args.dwpose_dir, str(args.reference)
            )
        processes = launched_processes()
        device = f"cuda:{processes.local_rank}" if args.context_parallel else args.device
        speed = dict(memory=args.memory, attention_backend=args.attention, compile=args.compile)
        pipe = load_pipeline(args.model, device, transformer_gguf=args.gguf, lora=args.lora, **speed)
        if args.context_parallel:
            start_context_parallel(pipe, args.context_parallel, processes)
        windows = WindowSettings(
            args.window_strategy, args.window, args.overlap, args.colour_match, args.carry_noise,
            not args.no_crossfade,
        )  # fmt: skip
        if processes.is_main:
            print(plan_line(
                pipe, reference, poses, driving=driving, size=size, num_frames=args.frames,
                num_inference_steps=args.steps, guidance_scale=args.guidance,
                text_guidance_scale=args.text_guidance, windows=windows,
            ), flush=True)  # fmt: skip
        settings = dict(
            driving=driving, reference_pose=reference_pose, prompt=args.prompt, align=args.align, size=size,
            num_frames=args.frames, num_inference_steps=args.steps, guidance_scale=args.guidance,
            text_guidance_scale=args.text_guidance, seed=args.seed, task=args.task, windows=windows, cache=args.cache,
            batch_guidance=args.batch_guidance,
        )  # fmt: skip
        # Without a grid the result is written window by window as it is made (to a temporary file renamed at
        # the end, so Ctrl-C leaves no broken video); the grid needs every frame at once. With context
        # parallelism every rank computes the same frames and rank 0 writes them.
        if not processes.is_main:
            animate(pipe, reference, poses, **settings)
            return 0
        if args.grid is None:
            with VideoWriter(args.output, poses.fps) as writer:
                animation = animate(pipe, reference, poses, on_frames=writer.write, **settings)
            count, (height, width) = writer.frames_written, writer.frame_shape[:2]
        else:
            animation = animate(pipe, reference, poses, **settings)
            write_video(args.output, animation.frames, animation.fps)
            count, height, width = animation.frames.shape[:3]
    print(f"{args.output}: {count} frames at {animation.fps:g} fps, {width}x{height}")
    if args.grid is not None:
        write_video(args.grid, animation_grid(animation), animation.fps)
        print(f"{args.grid}: reference | driving | pose | result")
    return 0
