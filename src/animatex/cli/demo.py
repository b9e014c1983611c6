"""`animatex demo` (what `make demo` runs): animate a held-out anthropomorphic A2Bench-Synth case."""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from animatex.cli.arguments import positive_int, seed

if TYPE_CHECKING:
    from animatex.pipelines import AnimateXPipeline

# The case: clip 0 of the anthro/test subset for this seed (an orange cartoon cat bowing, waves behind it).
DEMO_SEED = 0
# More steps cannot make random weights better; this keeps `make demo` well under a minute on 2 cores.
UNTRAINED_STEPS = 4
UNTRAINED_NOTICE = """\
================================================================================================
NOTICE: no trained model found (no --model, and no weights/animatex-demo here or in an animatex checkout).
This demo runs a TINY RANDOMLY INITIALISED pipeline: the video below is noise-like and only shows
that the whole path (synthetic case -> pose retargeting -> pose drawing -> AnimateXPipeline -> mp4
+ grid) runs end to end. Run from the repository root, where the trained demo model ships in
weights/animatex-demo, or pass --model DIR with any AnimateXPipeline folder.
================================================================================================"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="animate a bundled held-out anthropomorphic case (what `make demo` runs)",
        description="Generate a held-out anthropomorphic A2Bench-Synth case into OUT/demo_case, animate its "
        "reference with its driving motion (retargeted to the character's bones) and its caption as prompt, "
        "and write OUT/demo.mp4 and OUT/demo_grid.mp4 (replacing earlier demo outputs).",
    )
    parser.add_argument("--model", type=Path,
                        help="AnimateXPipeline folder (default: weights/animatex-demo, else a tiny untrained one)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path("outputs"), help="output folder (default outputs)")
    parser.add_argument("--steps", type=positive_int,
                        help=f"denoising steps (default: the model's own; {UNTRAINED_STEPS} for the untrained fallback)")  # fmt: skip
    # The demo model was trained on 64x64, 17-frame clips (weights/animatex-demo/README.md).
    parser.add_argument("--frames", type=positive_int, default=17, help="frames of the case (default 17)")
    parser.add_argument(
        "--size", type=positive_int, default=64, help="case width = height, a multiple of 16 (default 64)"
    )
    parser.add_argument("--seed", type=seed, default=0, help="noise seed (default 0)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cuda (default cpu)")
    parser.set_defaults(func=run)


def resolve_pipeline(model: Path | None, device: str) -> tuple[AnimateXPipeline, bool]:
    """(pipeline, trained): `--model`, else the shipped demo model, else a tiny random one with a loud notice."""
    from animatex.animate import default_model_dir, load_pipeline

    model = model or default_model_dir()
    if model is not None:
        pipe = load_pipeline(model, device)
        print(f"model: {model}")
        return pipe, True
    from animatex.pipelines.tiny import build_tiny_pipeline

    print(UNTRAINED_NOTICE, flush=True)
    return build_tiny_pipeline(seed=0).to(device), False


def run(args: argparse.Namespace) -> int:
    from animatex.animate import animate, animation_grid
    from animatex.cli.animate import print_warning
    from animatex.data.dataset import load_clip
    from animatex.data.generate import generate
    from animatex.io import write_video

    pipe, trained = resolve_pipeline(args.model, args.device)
    # A trained model samples with the settings saved in its model_index.json (the demo model: 4 steps, no CFG).
    steps = args.steps or (None if trained else UNTRAINED_STEPS)
    (folder,) = generate(
        args.out / "demo_case", "anthro", 1, DEMO_SEED, "test", args.size, args.frames, overwrite=True
    )
    clip = load_clip(folder)
    held_out = [
        what
        for what, part in (("character template", "reference_character"), ("motion", "motion"))
        if clip.meta[part].get("held_out")
    ]
    print(f"case: {folder} ({clip.meta['reference_character']['description']}, motion "
          f"{clip.meta['motion']['family']!r}; test split, held out of training: "
          f"{' and '.join(held_out) if held_out else 'seed only'})")  # fmt: skip
    print(f"prompt: {clip.caption}")
    with warnings.catch_warnings():
        warnings.showwarning = print_warning
        # The synthetic case knows the reference's exact pose, so no detector runs (mediapipe finds no
        # body in a cartoon cat anyway).
        animation = animate(
            pipe, clip.reference, clip.poses, driving=clip.driving, reference_pose=clip.reference_pose,
            prompt=clip.caption, align="bones", num_inference_steps=steps, seed=args.seed,
        )  # fmt: skip
    video = write_video(args.out / "demo.mp4", animation.frames, animation.fps)
    grid = write_video(args.out / "demo_grid.mp4", animation_grid(animation), animation.fps)
    print(f"wrote {video} ({len(animation.frames)} frames at {animation.fps:g} fps)")
    print(f"wrote {grid} (reference | driving | pose | result)")
    return 0
