"""Step caches on the demo model: speed-up and quality against the uncached run, side by side in one process.

For each step count (default 20 and 50) and A2Bench-Synth test case (default 64 x 64, 17 frames, the demo model's
size; `--size`/`--frames` for larger videos, run as one window), the uncached pipeline and each cache spec
(`animatex.pipelines.speed`) run on the same inputs and seed. Printed per spec: the transformer's time per video
(summed over its forward calls) and the whole call's, their speed-ups over the uncached run, the output's PSNR
against the uncached output and against the case's ground truth; for the uncached run, the transformer's share of
the call (what bounds a cache's whole-call speed-up). `--guidance` > 1 runs CFG (two transformer calls a step);
a cache the pipeline refuses there (PAB, FasterCache) is printed as refused. MagCache ratios are calibrated first
on case 0 at each step count (into a temporary folder: the model folder is not written).

Run: .venv/bin/python benchmarks/bench_cache.py [--steps 20 50] [--cases 3] [--specs fbc:0.1 taylorseer:4 ...]
    [--size 128 --frames 33] [--guidance 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from animatex.animate import load_pipeline  # noqa: E402
from animatex.data.world import make_case  # noqa: E402
from animatex.pipelines.speed import (  # noqa: E402
    CacheSpecError,
    calibrate_mag_cache,
    enable_step_cache,
    synth_case_inputs,
)
from animatex.pipelines.windows import WindowSettings  # noqa: E402

SPECS = [
    "fbc:0.05",
    "fbc:0.1",
    "fbc:0.2",
    "taylorseer:2",
    "taylorseer:4",
    "magcache:0.06",
    "magcache:0.12",
    "magcache:0.24",
    "pab:2",
    "pab:3",
    "fastercache:2",
]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


class ForwardTimer:
    """Wall time spent inside the transformer's forward calls."""

    def __init__(self, module: torch.nn.Module):
        self.total = 0.0
        self._start = 0.0
        module.register_forward_pre_hook(lambda *_: self._begin())
        module.register_forward_hook(lambda *_: self._end())

    def _begin(self) -> None:
        self._start = time.perf_counter()

    def _end(self) -> None:
        self.total += time.perf_counter() - self._start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[20, 50])
    parser.add_argument("--cases", type=int, default=3)
    parser.add_argument("--specs", nargs="+", default=SPECS)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--size", type=int, default=64, help="square video side in pixels (demo model: 64)")
    parser.add_argument("--frames", type=int, default=17, help="frames, 4k+1, run as one window (demo: 17)")
    parser.add_argument("--guidance", type=float, default=1.0, help="CFG scale; > 1 runs the negative branch")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    pipe = load_pipeline(None)
    pipe.set_progress_bar_config(disable=True)
    timer = ForwardTimer(pipe.transformer)
    cases = [
        make_case(0, ("human", "anthro")[i % 2], "test", i, args.size, args.frames) for i in range(args.cases)
    ]
    call_args = {
        "height": args.size,
        "width": args.size,
        "windows": WindowSettings("none"),
        "guidance_scale": args.guidance,
    }
    inputs = [synth_case_inputs(case) | call_args for case in cases]
    truths = [case.target.astype(np.float32) / 255.0 for case in cases]

    def run(spec: str | None, steps: int, index: int, model_dir: str) -> tuple[np.ndarray, float, float]:
        enable_step_cache(pipe, spec, steps, model_dir=model_dir)
        timer.total = 0.0
        start = time.perf_counter()
        frames = pipe(**inputs[index], num_inference_steps=steps, generator=torch.Generator().manual_seed(0))
        return frames.frames[0], timer.total, time.perf_counter() - start

    print(
        f"demo model, {args.cases} A2Bench-Synth test cases at {args.size}x{args.size}x{args.frames}, guidance "
        f"{args.guidance:g}, {args.threads} thread(s)"
    )
    print("steps  spec            DiT s   call s   DiT x   call x   PSNR vs uncached   PSNR vs truth")
    for steps in args.steps:
        with tempfile.TemporaryDirectory() as model_dir:
            calibrate_mag_cache(
                pipe, inputs[0] | {"generator": torch.Generator().manual_seed(0)}, steps, model_dir
            )
            rows: dict[str, list[tuple[float, float, float, float]]] = {spec: [] for spec in args.specs}
            refused: dict[str, str] = {}
            base_rows = []
            for index in range(len(cases)):
                run(None, steps, index, model_dir)  # warm-up
                plain, plain_dit, plain_call = run(None, steps, index, model_dir)
                base_rows.append((plain_dit, plain_call, psnr(plain, truths[index])))
                for spec in args.specs:
                    try:
                        frames, dit, call = run(spec, steps, index, model_dir)
                    except CacheSpecError as error:
                        refused[spec] = str(error)
                        continue
                    rows[spec].append(
                        (plain_dit / dit, plain_call / call, psnr(frames, plain), psnr(frames, truths[index]))
                    )
                    rows[spec][-1] = (*rows[spec][-1], dit, call)
            enable_step_cache(pipe, None, steps)
            dit0, call0, truth0 = (statistics.median(col) for col in zip(*base_rows, strict=True))
            print(
                f"{steps:5d}  {'none':14s} {dit0:6.2f}  {call0:7.2f}    1.00     1.00                  -   {truth0:13.2f}"
                f"   (DiT share of the call {dit0 / call0:.0%})"
            )
            for spec, reason in refused.items():
                print(f"{steps:5d}  {spec:14s} refused: {reason}")
            for spec, values in rows.items():
                if not values:
                    continue
                sdit, scall, p_plain, p_truth, dit, call = (
                    statistics.median(col) for col in zip(*values, strict=True)
                )
                print(
                    f"{steps:5d}  {spec:14s} {dit:6.2f}  {call:7.2f}  {sdit:6.2f}   {scall:6.2f}   {p_plain:16.2f}   "
                    f"{p_truth:13.2f}"
                )


if __name__ == "__main__":
    main()
