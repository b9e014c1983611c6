"""The trainer's VAE encodes of a batch's cache misses: one call per batch vs one call per example.

A training batch misses the encode cache for every clip window and reference frame it has not seen yet (on
the demo data: 400 clips, 6,800 reference frames, held-still variants), so early in a run the frozen VAE
runs for most of the batch. `encode_batch` encodes those misses in one VAE call per kind (latents, `y`); the
reference is the same function with the cache switched off (one VAE call per example and kind), on the same
batch, side by side, outputs compared. Demo pipeline preset (the demo VAE's size, random weights: the same
cost as the trained one), 64 x 64, 17 frames, bf16 autocast as in configs/demo.yaml.

Run: .venv/bin/python benchmarks/bench_encode.py [--batch 8] [--repeats 5] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from animatex.pipelines.presets import build_pipeline  # noqa: E402
from animatex.training.encode import EncodeCache, encode_batch  # noqa: E402
from animatex.training.sampling import StepPlan, TrainingExample  # noqa: E402


def random_examples(batch: int, frames: int, size: int, rng: np.random.Generator) -> list[TrainingExample]:
    def pixels(*shape: int) -> np.ndarray:
        return rng.integers(0, 256, shape, dtype=np.uint8)

    return [
        TrainingExample(
            video=pixels(frames, size, size, 3),
            reference=pixels(size, size, 3),
            pose_video=pixels(frames, size, size, 3),
            ref_pose=pixels(size, size, 3),
            keypoints=rng.uniform(0, 1, (frames, 18, 2)).astype(np.float32),
            caption="a fox is dancing.",
        )  # fmt: skip
        for _ in range(batch)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--batch", type=int, default=8, help="examples per batch (the demo's train.batch_size)"
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed batches per method (median kept)")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    pipe = build_pipeline("demo", seed=0, reference_in_every_frame=True)
    pipe.set_progress_bar_config(disable=True)
    plan = StepPlan("animate", drop_pose=False, drop_image=False, drop_text=False)
    device = torch.device("cpu")
    rng = np.random.default_rng(0)
    print(
        f"device: CPU, {torch.get_num_threads()} threads; batch {args.batch} of 17 x 64 x 64, bf16 autocast"
    )

    def run(cache_size: int, examples: list[TrainingExample]) -> tuple[float, dict]:
        # A fresh cache each time: every latent and `y` of the batch is a miss, as early in a run.
        began = time.perf_counter()
        with torch.no_grad(), torch.autocast("cpu", torch.bfloat16):
            batch = encode_batch(pipe, examples, plan, device, EncodeCache(cache_size))
        return time.perf_counter() - began, batch

    run(0, random_examples(args.batch, 17, 64, rng))  # warm-up
    times: dict[str, list[float]] = {"one call per batch": [], "one call per example": []}
    worst = 0.0
    for _ in range(args.repeats):
        examples = random_examples(args.batch, 17, 64, rng)
        batched, a = run(10**6, examples)
        single, b = run(0, examples)
        times["one call per batch"].append(batched)
        times["one call per example"].append(single)
        for key in ("latents", "condition"):
            worst = max(worst, float((a[key].float() - b[key].float()).abs().max()))
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, median in medians.items():
        print(f"{name:22s} {median * 1000:8.0f} ms per batch of misses")
    print(f"max |difference| of latents and y between the two: {worst:.2e} (bf16)")
    ratio = medians["one call per example"] / medians["one call per batch"]
    print(f"ratio one call per example / one call per batch: {ratio:.2f}x")


if __name__ == "__main__":
    main()
