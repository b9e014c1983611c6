"""Batched guidance and compiled blocks on the demo model: call time against the plain run, side by side.

On one A2Bench-Synth test case (64 x 64, 17 frames, the demo model's size) the pipeline runs with CFG (2 branches)
and with CFG + text guidance (3 branches), one forward per branch (`batch_guidance=False`) and the branches batched
(`batch_guidance=True`), the two alternating `--repeats` times. Printed per setting: the median call time, the
transformer's share (summed over its forward calls), the speed-up of batching and the largest difference of the
output frames. With `--compile`, the same runs follow on a second pipeline whose blocks are compiled
(`compile_transformer`): the first call's time (compiling included) and the median of the next ones, against
the eager medians.

Run: .venv/bin/python benchmarks/bench_guidance.py [--steps 8] [--repeats 5] [--threads 1] [--compile]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from bench_cache import ForwardTimer  # noqa: E402

from animatex.animate import load_pipeline  # noqa: E402
from animatex.data.world import make_case  # noqa: E402
from animatex.pipelines.speed import compile_transformer, synth_case_inputs  # noqa: E402

GUIDANCE = {"CFG (2 branches)": (3.0, 1.0), "CFG + text (3 branches)": (3.0, 2.0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--compile", action="store_true", help="also time compiled blocks")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    inputs = synth_case_inputs(make_case(0, "human", "test", 0, 64, 17))

    def timed(pipe, timer, guidance, batched):
        timer.total = 0.0
        start = time.perf_counter()
        frames = pipe(
            **inputs, num_inference_steps=args.steps, guidance_scale=guidance[0], text_guidance_scale=guidance[1],
            batch_guidance=batched, generator=torch.Generator().manual_seed(0),
        ).frames[0]  # fmt: skip
        return time.perf_counter() - start, timer.total, frames

    def measure(pipe, timer):
        results = {}
        for name, guidance in GUIDANCE.items():
            runs = {False: [], True: []}
            for _ in range(args.repeats):
                for batched in (False, True):
                    runs[batched].append(timed(pipe, timer, guidance, batched))
            results[name] = runs
        return results

    def median(runs, index):
        return statistics.median(run[index] for run in runs)

    pipe = load_pipeline(None)
    pipe.set_progress_bar_config(disable=True)
    timer = ForwardTimer(pipe.transformer)
    timed(pipe, timer, (3.0, 2.0), True)  # warm-up
    eager = measure(pipe, timer)
    print(
        f"demo model, A2Bench-Synth test case 0 at 64x64x17, {args.steps} steps, median of {args.repeats} "
        f"alternating runs, {args.threads} thread(s), torch {torch.__version__}"
    )
    print(
        "guidance                  DiT s: per branch  batched  batched x | call s: per branch  batched | max |diff|"
    )
    for name, runs in eager.items():
        diff = float(np.abs(runs[True][0][2] - runs[False][0][2]).max())
        plain_call, plain_dit = median(runs[False], 0), median(runs[False], 1)
        call, dit = median(runs[True], 0), median(runs[True], 1)
        print(
            f"{name:25s} {plain_dit:17.2f} {dit:8.2f} {plain_dit / dit:10.2f} | {plain_call:17.2f} {call:8.2f} | "
            f"{diff:9.1e}"
        )

    if not args.compile:
        return
    compiled = load_pipeline(None)
    compiled.set_progress_bar_config(disable=True)
    compiled_timer = ForwardTimer(compiled.transformer)
    compile_transformer(compiled.transformer)
    first = {}
    for batched in (True, False):  # compiling happens here: one graph per batch size
        first[batched] = timed(compiled, compiled_timer, (3.0, 2.0), batched)[0]
    print(
        f"compiling (the first call, 3 branches): {first[True]:.1f} s batched, then {first[False]:.1f} s per branch"
    )
    results = measure(compiled, compiled_timer)
    print(
        "guidance                  batched | DiT s: eager  compiled  compiled x | call s: eager  compiled | max |diff|"
    )
    for name, runs in results.items():
        for batched in (False, True):
            dit, base_dit = median(runs[batched], 1), median(eager[name][batched], 1)
            call, base_call = median(runs[batched], 0), median(eager[name][batched], 0)
            diff = float(np.abs(runs[batched][0][2] - eager[name][batched][0][2]).max())
            print(
                f"{name:25s} {str(batched):7s} | {base_dit:12.2f} {dit:9.2f} {base_dit / dit:11.2f} | "
                f"{base_call:12.2f} {call:9.2f} | {diff:9.1e}"
            )


if __name__ == "__main__":
    main()
