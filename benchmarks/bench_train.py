"""Training throughput at the demo config (configs/demo.yaml), each variant side by side in one run.

- demo: the configured step (the demo DiT, 64x64, 17 frames, animate/ti2v mix, EPI, IPI; checkpointing off).
- reference A, pose branches off: the same step with every pose condition dropped (`dropout.pose: 1`),
  so the pose guider, ref-pose encoder and IPI neither run nor train: what the pose paths cost.
- reference B, gradient checkpointing on: the memory-saving setting the 14B recipe uses.
- reference C, encode cache off: the frozen VAE/text/CLIP re-run on every repeated clip window.
- reference D, Wan text attention: `mask_text_padding` off, so every block's text cross-attention runs over
  all 512 padded tokens (the demo masks the padding and cuts the text to the batch's longest prompt).
Samples/s = batch size / median step time over the timed steps (the first steps warm up and are dropped).
On a GPU machine the same script runs in bf16 autocast (train.mixed_precision: auto).

Run: .venv/bin/python benchmarks/bench_train.py [--steps 8] [--warmup 2] [--batch 1] [--threads N]
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from animatex.data.generate import generate  # noqa: E402
from animatex.training.config import load_config  # noqa: E402
from animatex.training.train import train  # noqa: E402

DEMO = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"

VARIANTS: dict[str, dict] = {
    "demo": {},
    "pose branches off": {"dropout.pose": 1.0},
    "gradient checkpointing on": {"train.gradient_checkpointing": True},
    "encode cache off": {"train.encode_cache": 0},
    "Wan text attention (512 keys)": {"model.overrides.mask_text_padding": False},
}


def step_seconds(root: Path, work: Path, name: str, overrides: dict, steps: int, batch: int) -> list[float]:
    config = load_config(
        DEMO,
        {
            "data.root": str(root), "train.batch_size": batch, "train.max_steps": steps, "log.every": 1,
            "log.sample_every": 0, "log.tensorboard": False, "checkpoint.every": 10**6,
            # A random VAE of the demo size: the same cost as the pretrained one, and no run folder needed.
            "model.vae": None, **overrides,
        },
    )  # fmt: skip
    output = work / name.replace(" ", "-")
    train(config, output, progress=False)
    with (output / "log.csv").open() as handle:
        return [float(row["seconds"]) for row in csv.DictReader(handle)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8, help="optimizer steps per variant")
    parser.add_argument("--warmup", type=int, default=2, help="first steps left out of the timing")
    parser.add_argument("--batch", type=int, default=1, help="train.batch_size")
    parser.add_argument("--clips", type=int, default=4, help="synthetic clips (64x64, 33 frames)")
    parser.add_argument(
        "--rounds", type=int, default=2, help="variants run round-robin; the best round counts"
    )
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    device = (
        torch.cuda.get_device_name()
        if torch.cuda.is_available()
        else f"CPU, {torch.get_num_threads()} threads"
    )
    print(f"device: {device}; demo config, batch {args.batch}, {args.steps} steps ({args.warmup} warm-up)")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        began = time.perf_counter()
        generate(work / "synth", "anthro", args.clips, 0, size=64, num_frames=33, overwrite=True)
        print(f"data: {args.clips} clips in {time.perf_counter() - began:.1f} s", flush=True)
        # Round-robin, best round kept: on a shared machine the load drifts between variants run back to back.
        medians: dict[str, float] = {}
        for round_index in range(args.rounds):
            for name, overrides in VARIANTS.items():
                seconds = step_seconds(
                    work / "synth", work / str(round_index), name, overrides, args.steps, args.batch
                )
                medians[name] = min(
                    medians.get(name, float("inf")), statistics.median(seconds[args.warmup :])
                )
        rates = {name: args.batch / median for name, median in medians.items()}
        for name, median in medians.items():
            print(f"{name:30s} {median * 1000:8.0f} ms/step  {rates[name]:7.2f} samples/s", flush=True)
    base = rates["demo"]
    for name in list(VARIANTS)[1:]:
        print(f"ratio demo / {name}: {base / rates[name]:.2f}x samples/s", flush=True)


if __name__ == "__main__":
    main()
