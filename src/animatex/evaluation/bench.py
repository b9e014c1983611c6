"""The benchmark runner: generate every case of a dataset (docs/data.md), score it, write a report.

A method is a `Generator`: `(clip, driving_pose) -> frames (F, H, W, 3)`, uint8 or float in [0, 1], where
`driving_pose` is the clip's driving pose already aligned to the reference (`animatex.pose.retarget.align`).
The baselines and `AnimateXPipeline` are wrapped as generators below; anything else can be benchmarked the
same way through `run_bench`.
"""

from __future__ import annotations

import json
import math
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from animatex.data.dataset import Clip, ClipDataset
from animatex.errors import OutputError
from animatex.evaluation import metrics
from animatex.evaluation.baselines import copy_reference, rigid_warp
from animatex.evaluation.perceptual import DistributionMetrics, FeatureNetworks, lpips_video
from animatex.io import atomic_output, resize_frames, write_image, write_text
from animatex.pose.retarget import align
from animatex.pose.sequence import PoseSequence

Generator = Callable[[Clip, PoseSequence], np.ndarray]

BASELINES: tuple[str, ...] = ("copy-reference", "rigid-warp")
PIXEL_METRICS: tuple[str, ...] = (
    "psnr_star", "ssim", "l1", "fg_psnr", "fg_ssim", "silhouette_iou", "bg_motion", "bg_motion_gt",
)  # fmt: skip
DISTRIBUTION_METRICS: tuple[str, ...] = ("fid", "fid_vid", "fvd")
# Arrows for the report: which way is better (bg_motion has no better direction; compare with the truth).
HIGHER_IS_BETTER = {"psnr_star": True, "ssim": True, "l1": False, "fg_psnr": True, "fg_ssim": True,
                    "silhouette_iou": True, "lpips": False, "fid": False, "fid_vid": False, "fvd": False}  # fmt: skip
GRID_FRAMES = 4


# ---- methods ------------------------------------------------------------------------------------------
def baseline(name: str) -> Generator:
    """The generator of a baseline in `BASELINES`."""
    if name == "copy-reference":
        return lambda clip, pose: copy_reference(clip.reference, len(pose))
    if name == "rigid-warp":
        return lambda clip, pose: rigid_warp(clip.reference, clip.reference_pose, pose)
    raise ValueError(f"unknown baseline {name!r}; choose one of {', '.join(BASELINES)}")


def _pipeline(model: str | Path | Any, device: str) -> Any:
    """A loaded `AnimateXPipeline` as it is, else `load_pipeline(model, device)`."""
    from animatex.animate import load_pipeline
    from animatex.pipelines import AnimateXPipeline

    return model if isinstance(model, AnimateXPipeline) else load_pipeline(model, device)


def prompted_pipeline_generator(
    model: str | Path | Any,
    num_inference_steps: int | None = None,
    guidance_scale: float | None = None,
    seed: int = 0,
    device: str = "cpu",
    text_guidance_scale: float | None = None,
) -> Callable[[Clip, PoseSequence, str], np.ndarray]:
    """An `AnimateXPipeline` (or its folder) as `(clip, aligned pose, prompt) -> frames` through `animate()`
    at the clip's size: the driving video for the IPI, one fixed seed for every case. Steps and guidances left
    None take the model's own defaults (its model_index.json)."""
    from animatex.animate import animate

    pipe = _pipeline(model, device)

    def generate(clip: Clip, pose: PoseSequence, prompt: str) -> np.ndarray:
        height, width = clip.reference.shape[:2]
        return animate(
            pipe, clip.reference, pose, driving=clip.driving[: len(pose)], reference_pose=clip.reference_pose[:1],
            prompt=prompt, align="none", size=(width, height), num_inference_steps=num_inference_steps,
            guidance_scale=guidance_scale, text_guidance_scale=text_guidance_scale, seed=seed, progress=False,
        ).frames  # fmt: skip

    return generate


def pipeline_generator(
    model: str | Path,
    num_inference_steps: int | None = None,
    guidance_scale: float | None = None,
    seed: int = 0,
    device: str = "cpu",
    text_guidance_scale: float | None = None,
) -> Generator:
    """`prompted_pipeline_generator` with the clip's own caption as the prompt."""
    generate = prompted_pipeline_generator(
        model, num_inference_steps, guidance_scale, seed, device, text_guidance_scale
    )
    return lambda clip, pose: generate(clip, pose, clip.caption)


def vae_reconstruction_generator(model: str | Path | Any, device: str = "cpu") -> Generator:
    """The pipeline's (or its folder's) VAE encoding and decoding each ground truth (posterior mode): not a
    method but the ceiling of one. No model that diffuses in this latent space can be expected to score above it."""
    import torch

    pipe = _pipeline(model, device)

    def generate(clip: Clip, pose: PoseSequence) -> np.ndarray:
        truth = clip.ground_truth[: len(pose)]
        frames = torch.from_numpy(truth).float().div(255.0).permute(0, 3, 1, 2)  # (F, 3, H, W)
        with torch.no_grad():
            return pipe.decode_latents(pipe.encode_video(frames), output_type="np")[0]

    return generate


# ---- one case -----------------------------------------------------------------------------------------
def conform(frames: np.ndarray, ground_truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(result, ground truth) as uint8 videos of equal shape.

    A generator may return fewer frames (the Wan pipeline rounds to 4k+1): both are cut to the shorter
    length. A result of another size is resized to the ground truth's (area resampling when shrinking).
    """
    result = np.asarray(frames)
    if result.ndim != 4 or result.shape[-1] != 3 or len(result) == 0:
        raise ValueError(f"a generator must return frames (F, H, W, 3), got shape {result.shape}")
    if result.dtype != np.uint8:
        result = np.round(metrics.to_float_video(result, "generated video") * 255).astype(np.uint8)
    count = min(len(result), len(ground_truth))
    result, truth = result[:count], ground_truth[:count]
    return resize_frames(result, truth.shape[2], truth.shape[1]), truth


def case_metrics(
    result: np.ndarray, clip: Clip, networks: FeatureNetworks | None = None
) -> tuple[dict[str, float | None], np.ndarray, np.ndarray]:
    """The per-case metrics; those that need masks or a clean background are None when the clip has none."""
    result, truth = conform(result, clip.ground_truth)
    count = len(result)
    masks = clip.masks[:count] if clip.masks is not None else None
    values: dict[str, float | None] = {
        "psnr_star": metrics.psnr_star(result, truth),
        "ssim": metrics.ssim(result, truth),
        "l1": metrics.l1(result, truth),
        "fg_psnr": None,
        "fg_ssim": None,
        "silhouette_iou": None,
        "bg_motion": None,
        "bg_motion_gt": None,
    }
    if masks is not None:
        values["fg_psnr"] = metrics.fg_psnr(result, truth, masks)
        values["fg_ssim"] = metrics.fg_ssim(result, truth, masks)
        if count >= 2:
            values["bg_motion"] = metrics.bg_motion(result, masks)
            values["bg_motion_gt"] = metrics.bg_motion(truth, masks)
        if clip.background is not None:
            background = clip.background[:count] if len(clip.background) > 1 else clip.background[0]
            values["silhouette_iou"] = metrics.silhouette_iou(result, background, masks)
    if networks is not None and networks.lpips is not None:
        values["lpips"] = lpips_video(networks.lpips, result, truth)
    return values, result, truth


def case_grid(
    reference: np.ndarray, truth: np.ndarray, result: np.ndarray, rows: int = GRID_FRAMES
) -> np.ndarray:
    """An image with one row per sampled frame: reference | ground truth | result."""
    height, width = truth.shape[1:3]
    reference = resize_frames(reference, width, height)
    picks = np.unique(np.linspace(0, len(truth) - 1, min(rows, len(truth))).round().astype(int))
    gap = np.full((height, 2, 3), 255, np.uint8)
    lines = [np.hstack([reference, gap, truth[i], gap, result[i]]) for i in picks]
    separator = np.full((2, lines[0].shape[1], 3), 255, np.uint8)
    return np.vstack([part for line in lines for part in (line, separator)][:-1])


# ---- the run ------------------------------------------------------------------------------------------
@dataclass
class BenchResults:
    method: str
    align: str
    cases: list[dict[str, Any]] = field(default_factory=list)
    distribution: dict[str, float | None] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)

    @property
    def metric_names(self) -> list[str]:
        names = [*PIXEL_METRICS]
        if any("lpips" in c.get("metrics", {}) for c in self.cases):
            names.append("lpips")
        return names

    def mean(self) -> dict[str, float | None]:
        """Per-metric mean over the successful cases (NaN and missing values left out), plus FID/FID-VID/FVD."""
        out: dict[str, float | None] = {}
        for name in self.metric_names:
            values = [c["metrics"][name] for c in self.cases if c["status"] == "ok"]
            finite = [v for v in values if v is not None and math.isfinite(v)]
            out[name] = float(np.mean(finite)) if finite else None
        return {**out, **self.distribution}

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "align": self.align,
            "num_cases": len(self.cases),
            "num_failed": sum(c["status"] != "ok" for c in self.cases),
            "mean": self.mean(),
            "cases": [{**c, "metrics": _finite(c.get("metrics", {}))} for c in self.cases],
            "notices": self.notices,
        }


def _finite(values: dict[str, float | None]) -> dict[str, float | None]:
    # JSON has no NaN: a metric without a value (e.g. an empty mask) is written as null.
    return {k: (v if v is not None and math.isfinite(v) else None) for k, v in values.items()}


def run_bench(
    dataset: ClipDataset,
    generate: Generator,
    out: str | Path,
    *,
    method: str,
    align_mode: str = "none",
    limit: int | None = None,
    networks: FeatureNetworks | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> BenchResults:
    """Generate and score every case (or the first `limit`), write the report into `out`, return the results.

    A case that fails (bad clip, generator error) is logged, recorded with its error, and skipped.
    """
    from tqdm import tqdm

    if limit is not None and limit < 1:
        raise ValueError(f"--limit must be at least 1, got {limit}")
    if len(dataset) == 0:
        raise ValueError(f"no clips in {dataset.root} (check the --split / --subset filters)")
    out = Path(out)
    (out / "cases").mkdir(parents=True, exist_ok=True)
    networks = networks or FeatureNetworks()
    results = BenchResults(method, align_mode, notices=networks.notices())
    for notice in results.notices:
        log(notice)
    distribution = DistributionMetrics(networks)

    count = len(dataset) if limit is None else min(limit, len(dataset))
    for index in tqdm(range(count), desc=f"bench {method}", unit="case", disable=not progress):
        name = dataset.records[index]["name"]
        start = time.perf_counter()
        try:
            clip = dataset[index]
            pose = align(clip.poses, clip.reference_pose[0], mode=align_mode)
            values, result, truth = case_metrics(generate(clip, pose), clip, networks)
            distribution.add(result, truth)
            write_image(out / "cases" / f"{name}.png", case_grid(clip.reference, truth, result))
            results.cases.append(
                {"name": name, "status": "ok", "seconds": time.perf_counter() - start, "metrics": values}
            )
        except OutputError:  # a full disk ends the benchmark: every later case would fail the same way
            raise
        except Exception as error:  # one broken case must not end a long benchmark
            log(f"case {name} failed: {type(error).__name__}: {error}")
            results.cases.append(
                {
                    "name": name,
                    "status": "failed",
                    "error": f"{type(error).__name__}: {error}",
                    "traceback": traceback.format_exc(limit=4),
                }  # fmt: skip
            )
    ok = sum(c["status"] == "ok" for c in results.cases)
    try:
        results.distribution = distribution.compute() if ok else dict.fromkeys(DISTRIBUTION_METRICS)
    except ValueError as error:  # FID-VID / FVD need two videos
        results.distribution = dict.fromkeys(DISTRIBUTION_METRICS)
        results.notices.append(f"FID/FID-VID/FVD skipped: {error} ({ok} successful case(s))")
        log(results.notices[-1])
    write_report(results, out)
    return results


# ---- the report ---------------------------------------------------------------------------------------
def _fmt(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.4g}" if abs(value) < 1000 else f"{value:.1f}"


def write_report(results: BenchResults, out: str | Path) -> None:
    """results.json, results.md (a table) and chart.png in `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "results.json", json.dumps(results.to_json(), indent=1) + "\n")
    write_text(out / "results.md", _markdown(results))
    with atomic_output(out / "chart.png") as tmp:
        _chart(results, tmp)


def _markdown(results: BenchResults) -> str:
    names = results.metric_names
    header = [
        f"{n} {'↑' if HIGHER_IS_BETTER.get(n) else '↓' if n in HIGHER_IS_BETTER else ''}".strip()
        for n in names
    ]
    lines = [
        f"# Benchmark: {results.method} (align: {results.align})",
        "",
        "| case | " + " | ".join(header) + " |",
        "|---" * (len(names) + 1) + "|",
    ]
    for case in results.cases:
        if case["status"] == "ok":
            lines.append(
                f"| {case['name']} | " + " | ".join(_fmt(case["metrics"].get(n)) for n in names) + " |"
            )
        else:
            lines.append(f"| {case['name']} | failed: {case['error']} |" + " |" * (len(names) - 1))
    mean = results.mean()
    lines.append("| **mean** | " + " | ".join(f"**{_fmt(mean[n])}**" for n in names) + " |")
    lines += ["", "| " + " | ".join(DISTRIBUTION_METRICS) + " |", "|---" * len(DISTRIBUTION_METRICS) + "|"]
    lines.append("| " + " | ".join(_fmt(results.distribution.get(n)) for n in DISTRIBUTION_METRICS) + " |")
    if results.notices:
        lines += ["", *[f"- {n}" for n in results.notices]]
    lines += ["", "Conventions: docs/metrics.md. Per-case grids (reference | ground truth | result): cases/."]
    return "\n".join(lines) + "\n"


def _chart(results: BenchResults, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = results.metric_names
    ok = [c for c in results.cases if c["status"] == "ok"]
    fig, axes = plt.subplots(1, len(names), figsize=(2.2 * len(names), 3.2), squeeze=False)
    mean = results.mean()
    for ax, name in zip(axes[0], names, strict=True):
        values = [c["metrics"].get(name) for c in ok]
        values = [v if v is not None and math.isfinite(v) else 0.0 for v in values]
        ax.bar(range(len(values)), values, color="tab:blue")
        if mean[name] is not None:
            ax.axhline(mean[name], color="tab:red", linewidth=1, label="mean")
        ax.set_xticks(range(len(values)))
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("case", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle(f"{results.method} (align: {results.align}), {len(ok)} cases", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
