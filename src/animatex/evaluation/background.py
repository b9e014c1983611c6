"""Does the background do what the prompt says? Two checks on one model, same references and poses.

1. Static vs dynamic: each case is generated with a static-background prompt ("the background does not move")
   and with snow / rain / flames prompts; `bg_motion` (docs/metrics.md) of the dynamic results should be at
   least 3x that of the static ones.
2. Direction: each case is generated with "... drifting to the left" and "... to the right"; `bg_drift`
   (mean horizontal optical flow outside the character) should have the stated sign.
3. Scene direction: each case whose own caption says its background moves left or right (clouds, waves, a
   scrolling wall, wind-blown snow or rain) is generated with that caption told "left" and told "right". Unlike
   the snow prompt of check 2, the reference picture shows what is to move; the drift of the ground truth and
   of its VAE reconstruction (the ceiling of a model in that latent space) are measured beside it.

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

from animatex.data.captions import stated_side, subject_of, with_side
from animatex.data.dataset import Clip, ClipDataset
from animatex.evaluation.metrics import bg_motion, to_float_video
from animatex.io import write_text
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
# (clip, aligned pose) -> frames: the ground truth through a VAE (evaluation.bench.vae_reconstruction_generator)
Reconstructor = Callable[[Clip, PoseSequence], np.ndarray]
SIDES = ("left", "right")


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
    reconstruct: Reconstructor | None = None,
) -> dict:
    """Generate every case under every prompt, measure motion and drift, write prompts.json/.md to `out`.

    `reconstruct` (optional) gives the scene-direction check its ceiling: the drift of each ground truth
    after a VAE round trip."""
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
            frames, masks = _with_masks(generate(clip, pose, f"{subject}, {phrase}."), clip)
            case["motion"][key] = bg_motion(frames, masks)
            case["drift"][key] = bg_drift(frames, masks)
        if (side := stated_side(clip.caption)) is not None:
            case["scene"] = {"stated": side}
            for told in SIDES:
                frames = generate(clip, pose, with_side(clip.caption, told))
                case["scene"][told] = bg_drift(*_with_masks(frames, clip))
            case["scene"]["truth"] = bg_drift(*_with_masks(clip.ground_truth, clip))
            if reconstruct is not None:
                case["scene"]["vae"] = bg_drift(*_with_masks(reconstruct(clip, pose), clip))
        cases.append(case)
    summary = summarize(cases)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "prompts.json", json.dumps({"summary": summary, "cases": cases}, indent=2) + "\n")
    write_text(out / "prompts.md", _markdown(summary, cases))
    return summary


def _with_masks(frames: np.ndarray, clip: Clip) -> tuple[np.ndarray, np.ndarray]:
    """The result and the clip's character masks cut to the shorter of the two."""
    frames = np.asarray(frames)
    masks = clip.masks[: len(frames)]
    return frames[: len(masks)], masks


def _moves(drift: float, side: str) -> bool:
    return drift < 0 if side == "left" else drift > 0


def summarize(cases: list[dict]) -> dict:
    """Means, the dynamic/static motion ratio and the direction accuracy over all cases."""
    static = float(np.mean([c["motion"]["static"] for c in cases]))
    dynamic = float(np.mean([c["motion"][k] for c in cases for k in DYNAMIC_PROMPTS]))
    hits = [_moves(c["drift"][side], side) for c in cases for side in SIDES]
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
        **_summarize_scenes([c["scene"] for c in cases if "scene" in c]),
        "prompts": {**STATIC_PROMPTS, **DYNAMIC_PROMPTS, **DIRECTION_PROMPTS},
    }


def _summarize_scenes(scenes: list[dict]) -> dict:
    """Scene direction: the share of told-left/told-right results moving that way, the same share for the
    ground truth and its VAE reconstruction (each case once, the way its caption says), and drift sizes."""
    if not scenes:
        return {"scene_cases": 0, "scene_direction_accuracy": None, "scene_direction_ok": None}
    accuracy = float(np.mean([_moves(s[side], side) for s in scenes for side in SIDES]))
    has_vae = all("vae" in s for s in scenes)
    return {
        "scene_cases": len(scenes),
        "scene_direction_accuracy": accuracy,
        "scene_direction_ok": bool(accuracy >= DIRECTION_TARGET),
        "scene_truth_accuracy": float(np.mean([_moves(s["truth"], s["stated"]) for s in scenes])),
        "scene_vae_accuracy": float(np.mean([_moves(s["vae"], s["stated"]) for s in scenes])) if has_vae else None,
        "scene_drift_size": float(np.mean([abs(s[side]) for s in scenes for side in SIDES])),
        "scene_truth_size": float(np.mean([abs(s["truth"]) for s in scenes])),
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
    scenes = [(c["name"], c["scene"]) for c in cases if "scene" in c]
    if scenes:
        vae = summary["scene_vae_accuracy"]
        lines += [
            "",
            f"## Scene direction ({len(scenes)} cases whose caption says left or right)",
            "",
            f"- told left / told right: the stated way in {summary['scene_direction_accuracy']:.0%} of "
            f"generations (target >= {DIRECTION_TARGET:.0%}: {verdict[summary['scene_direction_ok']]}); mean "
            f"|drift| {summary['scene_drift_size']:.3f} px/frame",
            f"- ground truth: the stated way in {summary['scene_truth_accuracy']:.0%}, mean |drift| "
            f"{summary['scene_truth_size']:.3f} px/frame"
            + ("" if vae is None else f"; through the VAE (the ceiling): {vae:.0%}"),
            "",
            "| case | caption says | ground truth | VAE | told left | told right |",
            "|---|---|---|---|---|---|",
        ]
        for name, s in scenes:
            vae_drift = f"{s['vae']:+.3f}" if "vae" in s else "-"
            lines.append(
                f"| {name} | {s['stated']} | {s['truth']:+.3f} | {vae_drift} | {s['left']:+.3f} | {s['right']:+.3f} |"
            )
    return "\n".join(lines) + "\n"
