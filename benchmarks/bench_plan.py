"""`animatex plan`'s predicted peak memory against the measured peak, on CPU (fp32, every model in RAM).

Each configuration runs in a fresh process: its resident memory after the imports is the baseline, the pipeline
is loaded and called once (2 steps, every pose input), and the peak resident memory (VmHWM) minus the baseline
is compared with the planner's "none" prediction for fp32 (weights + the larger of the transformer's and the
VAE decoder's activations).

Run: .venv/bin/python benchmarks/bench_plan.py [--sizes 64x17 256x33 384x33]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

CHILD = r"""
import json, sys
import numpy as np, torch
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
from animatex.animate import load_pipeline, default_model_dir
from animatex.data.world import make_case
from animatex.pipelines.speed import synth_case_inputs
size, frames = int(sys.argv[1]), int(sys.argv[2])
inputs = synth_case_inputs(make_case(0, "human", "test", 0, size, frames))
base = status("VmRSS")
pipe = load_pipeline(None)
pipe.set_progress_bar_config(disable=True)
pipe(**inputs, num_inference_steps=2, generator=torch.Generator().manual_seed(0))
print(json.dumps({"baseline": base, "peak": status("VmHWM")}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["64x17", "256x33", "384x33"], help="SIZExFRAMES")
    args = parser.parse_args()

    from animatex.animate import default_model_dir
    from animatex.pipelines.plan import Workload, model_sizes, plan_modes

    sizes = model_sizes(default_model_dir())
    print("demo model, fp32 on CPU, one call of 2 steps, peak RSS above the post-import baseline")
    rows = []
    print("size      frames  predicted MiB  measured MiB  predicted/measured")
    for item in args.sizes:
        size, frames = (int(v) for v in item.split("x"))
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(size), str(frames)], capture_output=True, text=True
        )
        if out.returncode:
            sys.exit(out.stderr[-2000:])
        measured = json.loads(out.stdout.strip().splitlines()[-1])
        measured_bytes = measured["peak"] - measured["baseline"]
        predicted = plan_modes(sizes, Workload(size, size, frames), ["none"], "fp32")[0].peak_bytes
        rows.append((predicted, measured_bytes))
        mib = 1024**2
        print(
            f"{size:4d}x{size:<4d} {frames:6d}  {predicted / mib:13.1f}  {measured_bytes / mib:12.1f}  "
            f"{predicted / measured_bytes:18.2f}"
        )
    (p0, m0), (p1, m1) = rows[0], rows[-1]
    print(
        f"growth from the first to the last size (the fixed runtime overhead cancels): predicted "
        f"{(p1 - p0) / 1024**2:.1f} MiB, measured {(m1 - m0) / 1024**2:.1f} MiB, ratio {(p1 - p0) / (m1 - m0):.2f}"
    )


if __name__ == "__main__":
    main()
