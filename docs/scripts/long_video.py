"""Long videos against ground truth: window strategies on A2Bench-Synth long cases (docs/results.md).

Usage:
    animatex synth --out /tmp/long/s129 --split anthro --subset test --num 1 --seed 20 --size 64 --frames 129
    .venv/bin/python docs/scripts/long_video.py --clips /tmp/long/s129/clips --out /tmp/long/r129 \
        [--methods independent chain1 chain5 chain5-colour context] [--plot docs/img/long_129.png]

For each clip and method it generates the whole clip with the demo model (its settings, seed 0, the clip's own
poses, driving video and caption) and measures, per 16-frame bin (one window's new frames) of the output,
foreground PSNR and the background colour error against the ground truth, and over the whole clip the seam
jump: the mean absolute frame-to-frame change across window boundaries divided by the same inside windows (1.0:
seams as smooth as the rest; the ground truth's own ratio at the same frames is printed beside it).

Methods: independent (the naive baseline: back-to-back windows, each conditioned on the reference alone),
none (the whole clip as one window, today's default before windows), chain1 / chain5 (chaining, 1 or 5 carried
frames, their overlap crossfaded), `-colour` (colour matching), `-noise` (0.1 noise on the carried latents),
`-hard` (no crossfade: the new window starts where the carried frames end), context (context windows,
overlap 8 frames). Results: one JSON per clip and method in --out; `--plot` draws them.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from animatex.animate import load_pipeline
from animatex.data.dataset import load_clip
from animatex.evaluation import metrics
from animatex.pipelines.windows import WindowSettings, chain_windows, context_windows, round_up_frames

BIN = 16  # one demo-model window's new frames (17 - 1)


def settings_for(method: str, window: int) -> WindowSettings | None:
    """The `WindowSettings` a method name stands for; None for the independent baseline."""
    if method == "independent":
        return None
    if method == "none":
        return WindowSettings("none")
    if method == "context":
        return WindowSettings("context", window, 8)
    base, *options = method.split("-")
    return WindowSettings(
        "chain", window, int(base.removeprefix("chain")), colour_match="colour" in options,
        carry_noise=0.1 if "noise" in options else 0.0, crossfade="hard" not in options,
    )  # fmt: skip


def seams(method: str, num_frames: int, window: int) -> list[int]:
    """Frame indices b whose change from frame b - 1 belongs to a seam: where the output passes from one window
    to the next, over the frames two windows share (chain: the k carried frames and the first new one; context:
    the overlap)."""
    if method == "none":
        return []
    if method == "independent":
        return list(range(window, num_frames, window))
    if method == "context":  # latent frame s > 0 starts at pixel frame 4s - 3
        settings = settings_for(method, window)
        latent_window, latent_overlap = (window - 1) // 4 + 1, settings.overlap // 4
        latent_total = (round_up_frames(num_frames) - 1) // 4 + 1
        starts = [s for s, _ in context_windows(latent_total, latent_window, latent_overlap)[1:]]
        frames = {b for s in starts for b in range(4 * s - 3, 4 * (s + latent_overlap) - 2)}
        return sorted(b for b in frames if 0 < b < num_frames)
    carried = settings_for(method, window).overlap
    plan = chain_windows(num_frames, window, carried)[1:]
    return sorted({b for start, _ in plan for b in range(start, start + carried + 1) if 0 < b < num_frames})


def generate(pipe, clip, method: str, window: int) -> np.ndarray:
    """uint8 (F, H, W, 3) frames of the whole clip."""

    def call(frames: slice, windows: WindowSettings | None) -> np.ndarray:
        out = pipe(
            image=clip.reference, pose_video=clip.poses[frames], driving_video=clip.driving[frames],
            ref_pose=clip.reference_pose[:1], prompt=clip.caption, generator=torch.Generator().manual_seed(0),
            windows=windows,
        ).frames[0]  # fmt: skip
        return np.round(np.clip(out, 0, 1) * 255).astype(np.uint8)

    count = len(clip.poses)
    if method == "independent":
        return np.concatenate([call(slice(s, s + window), None) for s in range(0, count, window)])
    return call(slice(0, count), settings_for(method, window))


def window_bins(num_frames: int) -> list[tuple[int, int]]:
    """[start, end) of the BIN-frame bins of a video; a tail shorter than half a bin joins the bin before."""
    bins = [(start, min(start + BIN, num_frames)) for start in range(0, num_frames, BIN)]
    if len(bins) > 1 and bins[-1][1] - bins[-1][0] < BIN // 2:
        bins[-2:] = [(bins[-2][0], num_frames)]
    return bins


def summary(results: list[dict]) -> str:
    """A markdown table of the results, one row per clip and method."""
    rows = [
        "| clip | method | fg PSNR | PSNR* | fg PSNR first / last window | bg colour error mean (first / last) "
        "| seam jump (ground truth) | s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        bins = window_bins(r["frames"])
        fg = [float(np.nanmean(r["fg_psnr_per_frame"][a:b])) for a, b in bins]
        bg = [float(np.mean(r["bg_error_per_frame"][a:b])) for a, b in bins]
        seam = "-" if r["seam_jump"] is None else f"{r['seam_jump']:.2f} ({r['seam_jump_ground_truth']:.2f})"
        rows.append(
            f"| {r['clip']} ({r['frames']} f) | {r['method']} | {r['fg_psnr']:.2f} | {r['psnr_star']:.2f} | "
            f"{fg[0]:.2f} / {fg[-1]:.2f} | {np.mean(r['bg_error_per_frame']):.1f} ({bg[0]:.1f} / {bg[-1]:.1f}) "
            f"| {seam} | {r['seconds']:.0f} |"
        )
    return "\n".join(rows)


def frame_change(video: np.ndarray) -> np.ndarray:
    """(F - 1,) mean absolute change from each frame to the next, 0..255."""
    return np.abs(np.diff(video.astype(np.float32), axis=0)).mean(axis=(1, 2, 3))


def measure(result: np.ndarray, clip, boundaries: list[int]) -> dict:
    truth, masks = clip.ground_truth[: len(result)], clip.masks[: len(result)]
    fg = [metrics.fg_psnr(result[i : i + 1], truth[i : i + 1], masks[i : i + 1]) for i in range(len(result))]
    background = ~masks[..., None]
    counts = np.maximum(background.sum(axis=(1, 2)), 1)
    mean_result = (result.astype(np.float32) * background).sum(axis=(1, 2)) / counts
    mean_truth = (truth.astype(np.float32) * background).sum(axis=(1, 2)) / counts
    bg_error = np.abs(mean_result - mean_truth).mean(axis=1)  # per frame, 0..255

    def seam_jump(video: np.ndarray) -> float | None:
        if not boundaries:
            return None
        change = frame_change(video)
        at = np.zeros(len(change), bool)
        at[[b - 1 for b in boundaries]] = True
        return float(change[at].mean() / change[~at].mean())

    bins = window_bins(len(result))
    return {
        "frames": len(result),
        "fg_psnr_per_frame": [float(v) for v in fg],
        "bg_error_per_frame": [float(v) for v in bg_error],
        "fg_psnr_per_window": [float(np.nanmean(fg[a:b])) for a, b in bins],
        "bg_error_per_window": [float(bg_error[a:b].mean()) for a, b in bins],
        "fg_psnr": float(np.nanmean(fg)),
        "psnr_star": metrics.psnr_star(result, truth),
        "seam_jump": seam_jump(result),
        "seam_jump_ground_truth": seam_jump(truth),
        "boundaries": boundaries,
    }


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    clips = sorted({(r["frames"], r["clip"]) for r in results})
    methods = sorted({r["method"] for r in results})
    colours = {method: plt.get_cmap("tab10")(i % 10) for i, method in enumerate(methods)}  # one per method
    fig, axes = plt.subplots(2, len(clips), figsize=(6 * len(clips), 6), squeeze=False)
    for column, clip in enumerate(clips):
        for r in (r for r in results if (r["frames"], r["clip"]) == clip):
            x = np.arange(r["frames"])
            smooth = np.ones(5) / 5
            for row, key in enumerate(("fg_psnr_per_frame", "bg_error_per_frame")):
                axes[row][column].plot(
                    x[2:-2],
                    np.convolve(r[key], smooth, "valid"),
                    label=r["method"],
                    lw=1,
                    color=colours[r["method"]],
                )
        axes[0][column].set_title(f"{clip[1]} ({clip[0]} frames)", fontsize=9)
        axes[0][column].set_ylabel("foreground PSNR (dB), 5-frame mean")
        axes[1][column].set_ylabel("background colour error (0..255)")
        axes[1][column].set_xlabel("frame")
        axes[0][column].legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=Path, nargs="*", default=[], help="clip folders or folders of clips")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--methods", nargs="+", default=["independent", "chain1", "chain5", "context"])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--plot", type=Path, help="also draw every result in --out to this PNG")
    parser.add_argument("--summary", action="store_true", help="only print the results in --out as a table")
    args = parser.parse_args()

    if args.summary:
        print(summary([json.loads(p.read_text()) for p in sorted(args.out.glob("*.json"))]))
        return
    folders = [c for p in args.clips for c in ([p] if (p / "meta.json").is_file() else sorted(p.iterdir()))]
    if folders:
        pipe = load_pipeline(args.model)
        pipe.set_progress_bar_config(disable=True)
        window = pipe.config.default_window_frames
    args.out.mkdir(parents=True, exist_ok=True)
    for folder in folders:
        clip = load_clip(folder)
        for method in args.methods:
            target = args.out / f"{folder.name}_{method}.json"
            if target.is_file():
                continue
            start = time.perf_counter()
            result = generate(pipe, clip, method, window)
            values = measure(result, clip, seams(method, len(result), window))
            values.update(clip=folder.name, method=method, seconds=time.perf_counter() - start)
            target.write_text(json.dumps(values))
            first, last = values["fg_psnr_per_window"][0], values["fg_psnr_per_window"][-1]
            print(
                f"{folder.name} {method:>16}: fg PSNR {values['fg_psnr']:.2f} dB (first window {first:.2f}, last "
                f"{last:.2f}), bg colour error {np.mean(values['bg_error_per_frame']):.1f}, seam jump "
                f"{values['seam_jump']} (ground truth {values['seam_jump_ground_truth']}), "
                f"{values['seconds']:.0f} s",
                flush=True,
            )
    if args.plot:
        plot([json.loads(p.read_text()) for p in sorted(args.out.glob("*.json"))], args.plot)


if __name__ == "__main__":
    main()
