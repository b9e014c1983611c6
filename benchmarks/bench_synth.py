"""A2Bench-Synth generation speed: clips per minute at 128x128x33, against the 20 clips/min target.

Usage: .venv/bin/python benchmarks/bench_synth.py [--num 12] [--size 128] [--frames 33]
Times the two halves of `animatex synth` separately (rendering a case in memory, writing its files)
and the whole command path (`generate`) end to end, in one run.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from animatex.data.dataset import write_clip  # noqa: E402
from animatex.data.generate import generate  # noqa: E402
from animatex.data.world import make_case  # noqa: E402

TARGET_CLIPS_PER_MIN = 20.0  # issue #4 acceptance: at least 20 clips/min on 2 cores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num", type=int, default=12)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--frames", type=int, default=33)
    args = parser.parse_args()

    make_case(0, "anthro", "train", 0, args.size, args.frames)  # warm-up: imports, ffmpeg lookup
    render = write = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.num):
            split = ("human", "anthro")[i % 2]
            t0 = time.perf_counter()
            case = make_case(100, split, "train", i, args.size, args.frames)
            t1 = time.perf_counter()
            write_clip(
                Path(tmp) / f"clip{i}", reference=case.reference, driving=case.driving, poses=case.poses,
                reference_pose=case.reference_pose, caption=case.caption, meta=case.meta, target=case.target,
                target_poses=case.target_poses, masks=case.masks, background=case.background,
            )  # fmt: skip
            render += t1 - t0
            write += time.perf_counter() - t1
        t0 = time.perf_counter()
        generate(Path(tmp) / "ds", "anthro", args.num, seed=7, size=args.size, num_frames=args.frames)
        end_to_end = time.perf_counter() - t0

    rate = 60.0 * args.num / end_to_end
    print(f"clips: {args.num} at {args.size}x{args.size}x{args.frames}")
    print(f"render (in memory): {render / args.num:.3f} s/clip")
    print(f"write (3 mp4 + png + npz + json): {write / args.num:.3f} s/clip")
    print(f"generate end to end: {end_to_end / args.num:.3f} s/clip = {rate:.1f} clips/min")
    print(f"ratio vs target {TARGET_CLIPS_PER_MIN:.0f} clips/min: {rate / TARGET_CLIPS_PER_MIN:.2f}x")


if __name__ == "__main__":
    main()
