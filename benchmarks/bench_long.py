"""Long videos: time and peak memory against length, generated in windows (docs/benchmarks.md).

Usage: .venv/bin/python benchmarks/bench_long.py [--lengths 17 65 257 1025] [--steps 4] [--strategy chain]
    [--device cpu] [--model weights/animatex-demo]

Each length runs in its own process (the demo model at 64x64, an A2Bench-Synth driving clip and its poses,
frames streamed to an mp4 as `animatex animate` does) that reports its wall time and peak memory: RSS on the
CPU (`resource.getrusage`), `torch.cuda.max_memory_allocated` on a GPU. Goal (issue #20): time linear in the
length (seconds per frame flat) and memory flat after the first window; the ratios against the shortest
length are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def run_one(clip: Path, frames: int, steps: int, strategy: str, device: str, model: str | None) -> dict:
    """In this process: generate `frames` frames of `clip` and return time and peak memory."""
    import resource

    import torch

    from animatex.animate import load_pipeline
    from animatex.data.dataset import load_clip
    from animatex.io import VideoWriter
    from animatex.pipelines.windows import WindowSettings

    pipe = load_pipeline(model, device)
    pipe.set_progress_bar_config(disable=True)
    case = load_clip(clip)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, VideoWriter(Path(tmp) / "out.mp4", 16) as writer:
        pipe(
            image=case.reference, pose_video=case.poses[:frames], driving_video=case.driving[:frames],
            ref_pose=case.reference_pose[:1], prompt=case.caption, num_inference_steps=steps,
            generator=torch.Generator().manual_seed(0), windows=WindowSettings(strategy),
            on_frames=lambda window: writer.write(window[0]),
        )  # fmt: skip
    seconds = time.perf_counter() - start
    assert writer.frames_written == frames, writer.frames_written
    peak = {"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if device.startswith("cuda"):
        peak["cuda_peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return {"frames": frames, "seconds": seconds, **peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[17, 65, 257, 1025])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--strategy", default="chain", choices=("chain", "context", "none"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", default=None)
    parser.add_argument("--clip", type=Path, help="a clip folder at least as long as the longest length")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = run_one(args.clip, args.lengths[0], args.steps, args.strategy, args.device, args.model)
        print(json.dumps(result))
        return

    with tempfile.TemporaryDirectory() as tmp:
        clip = args.clip
        if clip is None:
            from animatex.data.generate import generate

            clip = generate(Path(tmp) / "long", "anthro", 1, 20, "test", 64, max(args.lengths))[0]
        results = []
        for frames in args.lengths:
            command = [sys.executable, __file__, "--child", "--clip", str(clip), "--lengths", str(frames),
                       "--steps", str(args.steps), "--strategy", args.strategy, "--device", args.device]  # fmt: skip
            if args.model:
                command += ["--model", args.model]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            result = results[-1]
            memory = ", ".join(f"{k} {v:.0f}" for k, v in result.items() if k.endswith("_mib"))
            print(
                f"{frames:5d} frames: {result['seconds']:7.1f} s ({result['seconds'] / frames:.3f} s/frame), {memory}",
                flush=True,
            )
    base = results[0]
    print(f"ratios against {base['frames']} frames ({args.strategy}, {args.steps} steps, {args.device}):")
    for result in results[1:]:
        time_ratio = (result["seconds"] / result["frames"]) / (base["seconds"] / base["frames"])
        memory = ", ".join(
            f"{k.removesuffix('_mib')} x{result[k] / base[k]:.2f}" for k in result if k.endswith("_mib")
        )
        print(f"  {result['frames']:5d} frames: time per frame x{time_ratio:.2f}, {memory}")


if __name__ == "__main__":
    main()
