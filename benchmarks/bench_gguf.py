"""GGUF-quantised transformers on CPU: weight bytes, output error and time per call against fp32, beside fp8.

One pipeline folder, loaded four ways: fp32 (the reference), fp8 (`--memory fp8`, diffusers' layerwise casting),
and the transformer from a Q8_0 and a Q4_0 GGUF file written by `animatex quantize` (diffusers' GGUF layers:
every linear weight is dequantised to fp32 in each forward on a CPU). Every pose input, the same seed; each mode
is timed on its second call, side by side in one process. Default model: the tiny pipeline with the "small"
preset transformer (8 blocks, 512 wide, random weights); `--model DIR` takes a saved folder instead (e.g. the
trained demo model, weights/animatex-demo).

Run: .venv/bin/python benchmarks/bench_gguf.py [--model weights/animatex-demo --size 64 --frames 17]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "pipelines"))

from conftest import _make_inputs  # noqa: E402

from animatex.animate import load_pipeline  # noqa: E402
from animatex.convert.gguf import write_transformer_gguf  # noqa: E402
from animatex.pipelines.tiny import build_tiny_pipeline  # noqa: E402

MODES = ("fp32", "fp8", "gguf-Q8_0", "gguf-Q4_0")


def load(mode: str, folder: Path, files: dict[str, Path]):
    if mode == "fp32":
        return load_pipeline(folder)
    if mode == "fp8":
        return load_pipeline(folder, memory="fp8")
    return load_pipeline(folder, transformer_gguf=files[mode.removeprefix("gguf-")])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", type=Path, help="a pipeline folder (default: the small-preset tiny pipeline)"
    )
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--frames", type=int, default=33)
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(1)
    inputs = _make_inputs(args.frames, args.size, args.size)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.model
        if folder is None:
            folder = Path(tmp) / "small"
            build_tiny_pipeline(seed=0, transformer_preset="small").save_pretrained(folder)
        files = {}
        for qtype in ("Q8_0", "Q4_0"):
            files[qtype] = write_transformer_gguf(folder, Path(tmp) / f"dit-{qtype}.gguf", qtype).path
        for mode in MODES:
            pipe = load(mode, folder, files)
            pipe.set_progress_bar_config(disable=True)
            weights = sum(p.numel() * p.element_size() for p in pipe.transformer.parameters())
            times = []
            for _ in range(2):
                start = time.perf_counter()
                video = pipe(
                    **inputs, num_inference_steps=args.steps, generator=torch.Generator().manual_seed(0)
                ).frames
                times.append(time.perf_counter() - start)
            size = files[mode[5:]].stat().st_size if mode.startswith("gguf") else None
            rows[mode] = {"weights": weights, "seconds": times[-1], "video": video, "file": size}
            del pipe
    plain = rows["fp32"]
    name = args.model or "small-preset tiny pipeline (random weights)"
    print(
        f"{name}, {args.size}x{args.size}, {args.frames} frames, {args.steps} steps, 1 thread, CPU, fp32 compute"
    )
    print(
        "mode        DiT weights MiB  / fp32  GGUF file MiB  time s  time / fp32  max|diff|  mean|diff|  PSNR dB"
    )
    for mode, row in rows.items():
        diff = np.abs(row["video"] - plain["video"]).astype(np.float64)
        mse = float((diff**2).mean())
        psnr = "inf" if mse == 0 else f"{10 * np.log10(1 / mse):.1f}"
        file = f"{row['file'] / 2**20:.1f}" if row["file"] else "-"
        print(
            f"{mode:11s} {row['weights'] / 2**20:15.1f} {row['weights'] / plain['weights']:6.2f} {file:>14s} "
            f"{row['seconds']:7.2f} {row['seconds'] / plain['seconds']:12.2f} {diff.max():10.4f} "
            f"{diff.mean():11.5f} {psnr:>8s}"
        )


if __name__ == "__main__":
    main()
