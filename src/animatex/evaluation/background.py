"""Does the background do what the prompt says? Two checks on one model, same references and poses.

1. Static vs dynamic: each case is generated with a static-background prompt ("the background does not move")
   and with snow / rain / flames prompts; `bg_motion` (docs/metrics.md) of the dynamic results should be at
   least 3x that of the static ones.
2. Direction: each case is generated with "... drifting to the left" and "... to the right"; `bg_drift`
   (mean horizontal optical flow outside the character) should have the stated sign.

The prompt keeps the clip caption's first part ("<subject> is <verb>") and replaces what it says about the
background, so only the background words change between the generations of one case.

    animatex bench --dataset data/synth-demo-test --subset test --split anthro --model weights/animatex-demo \
        --background-prompts --out outputs/bench/prompts
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from animatex.data.captions import subject_of
from animatex.data.dataset import Clip, ClipDataset
from animatex.evaluation.metrics import bg_motion, to_float_video
from animatex.pose.retarget import align
from animatex.pose.sequence import PoseSequence

STATIC_PROMPTS: dict[str, str] = {"static": "the background does not move"}
DYNAMIC_PROMPTS: dict[str, str] = {
    "snow": "heavy snow falls quickly in the background",
    "rain": "heavy rain is pouring down quickly in the background",
    "flames": "a fire burns in the background, many sparks floating up quickly",
}
DIRECTION_PROMPTS: dict[str, str] = {
    "left": "heavy snow falls quickly in the background, drifting to the left",
    "right": "heavy snow falls quickly in the background, drifting to the right",
}
MOTION_RATIO_TARGET = 3.0
DIRECTION_TARGET = 0.8

# (clip, aligned pose, prompt) -> frames (F, H, W, 3)
PromptGenerator = Callable[[Clip, PoseSequence, str], np.ndarray]


def bg_drift(video: np.ndarray, mask: np.ndarray, min_change: float = 0.02) -> float:
    """Signed horizontal background motion in pixels per frame (negative: leftward).

    Farneback optical flow between consecutive grey frames, averaged over pixels outside the character mask
    (in both frames) whose brightness changes by at least `min_change` (0..1): a falling flake or a
    scrolling edge counts, a flat sky that cannot show motion does not. 0 when nothing outside moves.
    """
    frames = to_float_video(video, "video")
    mask = np.asarray(mask, bool)
    if mask.shape != frames.shape[:3]:
        raise ValueError(f"mask shape {mask.shape} does not match the video's {frames.shape[:3]}")
    grey = [cv2.cvtColor((f * 255).astype(np.uint8), cv2.COLOR_RGB2GRAY) for f in frames]
    total, count = 0.0, 0
    for t in range(len(grey) - 1):
        flow = cv2.calcOpticalFlowFarneback(grey[t], grey[t + 1], None, 0.5, 2, 7, 3, 5, 1.1, 0)
        changed = np.abs(grey[t + 1].astype(np.float32) - grey[t]) >= min_change * 255
        keep = changed & ~mask[t] & ~mask[t + 1]
        total += float(flow[..., 0][keep].sum())
        count += int(keep.sum())
    return total / count if count else 0.0


def run_prompt_checks(
    dataset: ClipDataset,
    generate: PromptGenerator,
    out: str | Path,
    *,
    align_mode: str = "none",
    limit: int | None = None,
    progress: bool = True,
) -> dict:
    """Generate every case under every prompt, measure motion and drift, write prompts.json/.md to `out`."""
    from tqdm import tqdm

    if len(dataset) == 0:
        raise ValueError(f"no clips in {dataset.root} (check the --split / --subset filters)")
    prompts = {**STATIC_PROMPTS, **DYNAMIC_PROMPTS, **DIRECTION_PROMPTS}
    count = len(dataset) if limit is None else min(limit, len(dataset))
    cases = []
    for index in tqdm(range(count), desc="background prompts", unit="case", disable=not progress):
        clip = dataset[index]
        if clip.masks is None:
            raise ValueError(f"{clip.name} has no masks.npz: the checks need ground-truth character masks")
        pose = align(clip.poses, clip.reference_pose[0], mode=align_mode)
        subject = subject_of(clip.caption)
        case = {"name": clip.name, "motion": {}, "drift": {}}
        for key, phrase in prompts.items():
            frames = np.asarray(generate(clip, pose, f"{subject}, {phrase}."))
            masks = clip.masks[: len(frames)]
            frames = frames[: len(masks)]
            case["motion"][key] = bg_motion(frames, masks)
            case["drift"][key] = bg_drift(frames, masks)
        cases.append(case)
    summary = summarize(cases)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "prompts.json").write_text(json.dumps({"summary": summary, "cases": cases}, indent=2) + "\n")
    (out / "prompts.md").write_text(_markdown(summary, cases))
    return summary


def summarize(cases: list[dict]) -> dict:
    """Means, the dynamic/static motion ratio and the direction accuracy over all cases."""
    static = float(np.mean([c["motion"]["static"] for c in cases]))
    dynamic = float(np.mean([c["motion"][k] for c in cases for k in DYNAMIC_PROMPTS]))
    hits = [c["drift"]["left"] < 0 for c in cases] + [c["drift"]["right"] > 0 for c in cases]
    # A perfectly still static background gives no finite ratio: JSON stores null, and it passes when the
    # dynamic prompts move anything at all.
    ratio = dynamic / static if static > 0 else None
    ratio_ok = ratio >= MOTION_RATIO_TARGET if ratio is not None else dynamic > 0
    accuracy = float(np.mean(hits))
    return {
        "cases": len(cases),
        "bg_motion_static": static,
        "bg_motion_dynamic": dynamic,
        "motion_ratio": ratio,
        "motion_ratio_ok": bool(ratio_ok),
        "drift_left": float(np.mean([c["drift"]["left"] for c in cases])),
        "drift_right": float(np.mean([c["drift"]["right"] for c in cases])),
        "direction_accuracy": accuracy,
        "direction_ok": bool(accuracy >= DIRECTION_TARGET),
        "prompts": {**STATIC_PROMPTS, **DYNAMIC_PROMPTS, **DIRECTION_PROMPTS},
    }


def _markdown(summary: dict, cases: list[dict]) -> str:
    verdict = {True: "holds", False: "does NOT hold"}
    ratio = "inf" if summary["motion_ratio"] is None else f"{summary['motion_ratio']:.2f}"
    lines = [
        f"# Background prompts ({summary['cases']} cases)",
        "",
        f"- bg_motion static {summary['bg_motion_static']:.4f}, dynamic (snow/rain/flames) "
        f"{summary['bg_motion_dynamic']:.4f}: ratio {ratio} "
        f"(target >= {MOTION_RATIO_TARGET:g}: {verdict[summary['motion_ratio_ok']]})",
        f"- drift left {summary['drift_left']:+.3f} px/frame, right {summary['drift_right']:+.3f} px/frame: "
        f"direction right in {summary['direction_accuracy']:.0%} of generations "
        f"(target >= {DIRECTION_TARGET:.0%}: {verdict[summary['direction_ok']]})",
        "",
        "| case | static | snow | rain | flames | drift left | drift right |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in cases:
        m, d = c["motion"], c["drift"]
        lines.append(
            f"| {c['name']} | {m['static']:.4f} | {m['snow']:.4f} | {m['rain']:.4f} | {m['flames']:.4f} "
            f"| {d['left']:+.3f} | {d['right']:+.3f} |"
        )
    return "\n".join(lines) + "\n"
