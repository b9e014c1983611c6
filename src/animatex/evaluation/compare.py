"""Paired comparison of `animatex bench` reports: is run B better than run A, case by case?

Two runs of the bench on the same dataset with the same seed score the same cases, so the per-case
difference removes what the cases themselves contribute (an easy clip is easy for both). Its mean, standard
error and the number of cases B wins say whether a small gap between two means is a real effect; this is how
docs/results.md reads its ablations.

    animatex compare outputs/bench/full-anthro outputs/bench/no-epi-anthro outputs/bench/no-ipi-anthro
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from animatex.evaluation.bench import HIGHER_IS_BETTER

DEFAULT_METRICS: tuple[str, ...] = ("fg_psnr", "fg_ssim", "silhouette_iou", "psnr_star")


@dataclass(frozen=True)
class PairedDifference:
    """`run` minus `base` on one metric over the cases both scored."""

    run: str
    metric: str
    cases: int
    base_mean: float
    run_mean: float
    diff_mean: float
    diff_se: float  # standard error of the mean difference; NaN with one case
    run_better: int  # cases where `run` is better (in the metric's direction)


def load_cases(folder: str | Path) -> dict[str, dict[str, float | None]]:
    """Per-case metrics of the successful cases of a bench report folder (its results.json)."""
    path = Path(folder) / "results.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: pass a folder written by `animatex bench --out`")
    report = json.loads(path.read_text())
    if "cases" not in report:
        raise ValueError(f"{path} has no per-case results (written by another tool?)")
    return {case["name"]: case["metrics"] for case in report["cases"] if case["status"] == "ok"}


def paired_difference(
    base: dict[str, dict[str, float | None]],
    run: dict[str, dict[str, float | None]],
    metric: str,
    label: str = "run",
) -> PairedDifference:
    """The paired difference `run - base` of `metric` over the cases both have a finite value for."""
    if metric not in HIGHER_IS_BETTER:
        raise ValueError(f"unknown metric {metric!r}; choose from {', '.join(HIGHER_IS_BETTER)}")
    pairs = [(base[name].get(metric), run[name].get(metric)) for name in sorted(set(base) & set(run))]
    pairs = [(a, b) for a, b in pairs if _finite(a) and _finite(b)]
    if not pairs:
        raise ValueError(f"{label}: no case with a {metric} value in common with the base run")
    a, b = np.array(pairs, dtype=np.float64).T
    diff = b - a
    se = float(diff.std(ddof=1) / math.sqrt(len(diff))) if len(diff) > 1 else math.nan
    better = diff > 0 if HIGHER_IS_BETTER[metric] else diff < 0
    return PairedDifference(
        label, metric, len(diff), float(a.mean()), float(b.mean()), float(diff.mean()), se, int(better.sum())
    )


def compare_runs(
    base: str | Path, runs: list[str | Path], metrics: tuple[str, ...] = DEFAULT_METRICS
) -> list[PairedDifference]:
    """Every run against `base`, metric by metric."""
    base_cases = load_cases(base)
    rows = []
    for run in runs:
        run_cases = load_cases(run)
        rows += [paired_difference(base_cases, run_cases, metric, Path(run).name) for metric in metrics]
    return rows


def comparison_table(rows: list[PairedDifference], base_label: str) -> str:
    """A markdown table: one row per (run, metric)."""
    lines = [
        f"| run | metric | {base_label} | run | run - base (s.e.) | run better |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        arrow = "↑" if HIGHER_IS_BETTER[r.metric] else "↓"
        lines.append(
            f"| {r.run} | {r.metric} {arrow} | {r.base_mean:.4g} | {r.run_mean:.4g} | "
            f"{r.diff_mean:+.3g} ({r.diff_se:.2g}) | {r.run_better}/{r.cases} |"
        )
    return "\n".join(lines) + "\n"


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)
