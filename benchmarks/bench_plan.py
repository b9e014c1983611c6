"""`animatex plan`'s predicted peak memory against the measured peak, on CPU (every model in RAM).

Each row runs in a fresh process. Its baseline is the resident memory after importing every library the run uses
(the child checks that loading and calling import no further module, so no code pages are counted as model
memory); the pipeline is then loaded with the row's memory mode and called once (2 steps, every pose input,
one window of exactly the row's size and length), and the peak resident memory (VmHWM) minus the baseline is
compared with the planner's CPU prediction for the same mode (`plan_modes(..., device="cpu")`: weights,
activations (the guidance branches batched) including the CPU convolution column buffers, and the measured
CPU runtime overhead). The children run with a fixed glibc mmap threshold (FIXED_MMAP_THRESHOLD; --glibc-default
measures without it). With
--tensors the same call is also profiled (`torch.profiler`, profile_memory) for the peak of live tensors
allocated during the call, which the planner's activation term predicts without the runtime overhead.

Exits with status 1 if a row's predicted/measured ratio is outside 1 +- 20 %.

With --time it instead compares the CPU time estimate (FLOPs over a measured matmul throughput) with measured
demo-model calls.

Run: .venv/bin/python benchmarks/bench_plan.py [--rows demo:64x17:none small:128x17:fp8 ...] [--tensors]
     .venv/bin/python benchmarks/bench_plan.py --time [64x17 256x33 384x33]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

TOLERANCE = 0.20
# glibc raises its mmap threshold (up to 32 MiB) each time a large block is freed, after which tensors below it
# come from the heap and stay resident after they are freed: up to ~300 MiB here, depending on the order of the
# allocations, not on the model. A fixed threshold returns freed tensors to the system, as a GPU's caching
# allocator hands them back to its pool; --glibc-default measures without it.
FIXED_MMAP_THRESHOLD = 128 * 1024
DEFAULT_ROWS = (
    "demo:64x17:none", "demo:256x33:none", "demo:384x33:none", "demo:384x33:vae-tiling", "demo:256x33:fp8",
    "small:128x17:none", "small:256x33:none", "small:128x17:fp8", "small:256x33:fp8+vae-tiling",
)  # fmt: skip

CHILD = r"""
import importlib, json, sys
from pathlib import Path
import torch

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024

from animatex.animate import load_pipeline
from animatex.data.world import make_case
from animatex.pipelines.speed import synth_case_inputs
from animatex.pipelines.windows import WindowSettings

model, size, frames, mode, profile = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5] == "1"
inputs = synth_case_inputs(make_case(0, "human", "test", 0, size, frames))
inputs.update(height=size, width=size, num_frames=frames, windows=WindowSettings("none"))
# Code is not model memory: import what loading and calling import (diffusers' loader modules, every component's
# class) before the baseline; the check below fails the run if anything else is imported later.
for name in ("animatex.pipelines.memory", "animatex.pipelines.lora", "diffusers.guiders", "diffusers.pipelines.onnx_utils"):
    importlib.import_module(name)
for entry in json.loads((Path(model) / "model_index.json").read_text()).values():
    if isinstance(entry, list) and entry[0]:
        getattr(importlib.import_module(entry[0]), entry[1])
modules, base = set(sys.modules), status("VmRSS")
pipe = load_pipeline(model, "cpu", memory=mode)
pipe.set_progress_bar_config(disable=True)
loaded = status("VmRSS")
tensor_peak = None
if profile:
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        pipe(**inputs, num_inference_steps=2, generator=torch.Generator().manual_seed(0))
    events = sorted((e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events() if e.name() == "[memory]")
    live = tensor_peak = 0
    for _, nbytes in events:
        live += nbytes
        tensor_peak = max(tensor_peak, live)
else:
    pipe(**inputs, num_inference_steps=2, generator=torch.Generator().manual_seed(0))
new_modules = sorted(set(sys.modules) - modules)
print(json.dumps({"baseline": base, "loaded": loaded, "peak": status("VmHWM"), "tensor_peak": tensor_peak,
                  "new_modules": new_modules}))
"""


def default_guidance_branches(folder: Path) -> int:
    """The transformer calls per step (run as one batched forward) of a call that leaves guidance to the model."""
    index = json.loads((Path(folder) / "model_index.json").read_text())
    return 1 + (index.get("default_guidance_scale", 3.0) > 1) + (index.get("default_text_guidance_scale", 1.0) > 1)


def small_pipeline_folder(folder: Path) -> Path:
    """The "small" transformer preset in the demo pipeline (MiniLM text encoder, demo VAE, a CLIP of its width)."""
    from animatex.models.presets import ANIMATEX_PRESETS
    from animatex.pipelines.presets import build_pipeline, save_pipeline

    save_pipeline(build_pipeline("demo", **ANIMATEX_PRESETS["small"]), folder)
    return folder


def measure(model: Path, size: int, frames: int, mode: str, profile: bool, glibc_default: bool) -> dict:
    env = dict(os.environ)
    if not glibc_default:
        env["MALLOC_MMAP_THRESHOLD_"] = str(FIXED_MMAP_THRESHOLD)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(model), str(size), str(frames), mode, str(int(profile))],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    if out.returncode:
        sys.exit(out.stderr[-2000:])
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if result["new_modules"]:
        sys.exit(
            f"the run imported modules after the baseline ({result['new_modules']}): the baseline is wrong"
        )
    return result


def time_rows(shapes: list[str]) -> None:
    """The CPU time estimate of `animatex plan` / the plan line against measured demo-model calls (2 steps)."""
    import time

    import torch

    from animatex.animate import load_pipeline
    from animatex.data.world import make_case
    from animatex.pipelines.plan import Workload, device_throughput, pipeline_call_seconds
    from animatex.pipelines.speed import synth_case_inputs
    from animatex.pipelines.windows import WindowSettings

    pipe = load_pipeline(None)
    pipe.set_progress_bar_config(disable=True)
    print(f"demo model on CPU ({torch.get_num_threads()} threads), one call of 2 steps, after a warm-up call")
    throughput = device_throughput("cpu")
    print(f"throughput: {throughput.tflops * 1e3:.1f} GFLOP/s ({throughput.source})")
    print(f"{'size':>9s} {'estimated s':>11s} {'measured s':>10s} {'measured/estimated':>18s}")
    for shape in shapes:
        size, frames = (int(v) for v in shape.split("x"))
        inputs = synth_case_inputs(make_case(0, "human", "test", 0, size, frames))
        inputs.update(height=size, width=size, num_frames=frames, windows=WindowSettings("none"))
        for _ in ("warm-up", "measured"):
            start = time.perf_counter()
            pipe(**inputs, num_inference_steps=2, generator=torch.Generator().manual_seed(0))
        measured = time.perf_counter() - start
        estimated = pipeline_call_seconds(pipe, Workload(size, size, frames), 2)
        print(f"{size:4d}x{frames:<4d} {estimated:11.2f} {measured:10.2f} {measured / estimated:18.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="+", default=list(DEFAULT_ROWS), help="MODEL:SIZExFRAMES:MODE")
    parser.add_argument("--tensors", action="store_true", help="also profile the peak of live tensors")
    parser.add_argument("--glibc-default", action="store_true", help="keep glibc's dynamic mmap threshold")
    parser.add_argument("--time", nargs="*", metavar="SIZExFRAMES",
                        help="instead: the CPU time estimate against measured demo calls (default 64x17 256x33 384x33)")  # fmt: skip
    args = parser.parse_args()
    if args.time is not None:
        time_rows(args.time or ["64x17", "256x33", "384x33"])
        return

    from animatex.animate import default_model_dir
    from animatex.pipelines.plan import Workload, model_sizes, plan_modes

    mib = 1024**2
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        folders = {"demo": default_model_dir()}
        malloc = "glibc default" if args.glibc_default else f"MALLOC_MMAP_THRESHOLD_={FIXED_MMAP_THRESHOLD}"
        print(f"fp32 on CPU, one call of 2 steps in one window, {malloc}; MiB above the post-import baseline")
        header = f"{'model':6s} {'size':>9s} {'mode':18s} {'predicted':>9s} {'measured':>9s} {'pred/meas':>9s} {'loaded':>7s}"
        print(header + ("  activations: predicted  tensor peak" if args.tensors else ""), flush=True)
        for row in args.rows:
            name, shape, mode = row.split(":")
            size, frames = (int(v) for v in shape.split("x"))
            if name not in folders:
                folders[name] = small_pipeline_folder(Path(tmp) / name)
            work = Workload(size, size, frames, guidance_branches=default_guidance_branches(folders[name]))
            plan = plan_modes(model_sizes(folders[name]), work, [mode], "fp32", "cpu")[0]
            measured = measure(folders[name], size, frames, mode, args.tensors, args.glibc_default)
            measured_bytes = measured["peak"] - measured["baseline"]
            ratio = plan.peak_bytes / measured_bytes
            failures += abs(ratio - 1) > TOLERANCE
            line = (
                f"{name:6s} {size:4d}x{frames:<4d} {mode:18s} {plan.peak_bytes / mib:9.1f} {measured_bytes / mib:9.1f} "
                f"{ratio:9.2f} {(measured['loaded'] - measured['baseline']) / mib:7.1f}{'  OUTSIDE 20 %' if abs(ratio - 1) > TOLERANCE else ''}"
            )
            if args.tensors:
                line += f"  {plan.activation_bytes / mib:22.1f} {measured['tensor_peak'] / mib:12.1f}"
            print(line, flush=True)
    if failures:
        sys.exit(f"{failures} of {len(args.rows)} rows outside {TOLERANCE:.0%}")
    print(f"every row within {TOLERANCE:.0%}")


if __name__ == "__main__":
    main()
