"""Memory modes on CPU: peak memory, time and output error of each against the plain run, side by side.

The tiny pipeline with the "small" preset transformer (8 blocks, 512 wide, 29M parameters; random weights), every
pose input, 4 steps. Each mode runs in a fresh process (the first run of each is a warm-up); the peak is the
process's peak resident memory (VmHWM) above its memory after building the pipeline. On a CPU the offloading
modes move nothing (onload and offload are both the CPU), so their rows show the hooks' cost, not a saving;
fp8 rows show the weight bytes it saves and the error it costs.

Run: .venv/bin/python benchmarks/bench_memory.py [--size 128 --frames 33]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

MODES = ["none", "group-offload", "fp8", "vae-tiling", "vae-slicing", "text-encoder-cpu", "fp8+group-offload"]
CHILD = r"""
import json, sys, time
import numpy as np, torch
sys.path.insert(0, "tests/pipelines")
from conftest import _make_inputs
from animatex.pipelines.memory import apply_memory_mode
from animatex.pipelines.tiny import build_tiny_pipeline
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
mode, size, frames, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
torch.set_num_threads(1)
pipe = build_tiny_pipeline(seed=0, transformer_preset="small")
pipe.set_progress_bar_config(disable=True)
base = status("VmRSS")
apply_memory_mode(pipe, None if mode == "none" else mode, "cpu")
weights = sum(p.numel() * p.element_size() for p in pipe.transformer.parameters())
inputs = _make_inputs(frames, size, size)
times = []
for _ in range(2):
    start = time.perf_counter()
    video = pipe(**inputs, num_inference_steps=4, generator=torch.Generator().manual_seed(0)).frames
    times.append(time.perf_counter() - start)
np.save(out, video)
print(json.dumps({"peak": status("VmHWM") - base, "seconds": times[-1], "weights": weights}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--frames", type=int, default=33)
    parser.add_argument("--modes", nargs="+", default=MODES)
    args = parser.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in args.modes:
            path = f"{tmp}/{mode}.npy"
            cmd = [sys.executable, "-c", CHILD, mode, str(args.size), str(args.frames), path]
            out = subprocess.run(cmd, capture_output=True, text=True)
            if out.returncode:
                sys.exit(out.stderr[-3000:])
            rows[mode] = json.loads(out.stdout.strip().splitlines()[-1]) | {"video": np.load(path)}
    plain = rows["none"]
    print(
        f"small-preset tiny pipeline, {args.size}x{args.size}, {args.frames} frames, 4 steps, 1 thread, CPU fp32"
    )
    print(
        "mode                   peak MiB  peak/plain  time s  time/plain  DiT weights MiB  max|diff|  PSNR dB"
    )
    for mode, row in rows.items():
        diff = np.abs(row["video"] - plain["video"])
        mse = float((diff.astype(np.float64) ** 2).mean())
        psnr = "inf" if mse == 0 else f"{10 * np.log10(1 / mse):.1f}"
        print(
            f"{mode:22s} {row['peak'] / 2**20:9.1f} {row['peak'] / plain['peak']:10.2f} {row['seconds']:7.2f} "
            f"{row['seconds'] / plain['seconds']:10.2f} {row['weights'] / 2**20:16.1f} {diff.max():10.4f} {psnr:>8s}"
        )


if __name__ == "__main__":
    main()
