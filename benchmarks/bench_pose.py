"""Pose extraction and drawing speed, each against a reference measured side by side in this run.

- extraction: `extract_poses` (one mediapipe graph reused in video mode) vs a fresh graph per frame,
  the way a naive loop over `Holistic(static_image_mode=True)` calls would run; 512 x 512 frames.
- drawing: `draw_pose_video` (OpenCV) vs the same skeleton drawn with matplotlib (Agg), 512 x 512.

Run: .venv/bin/python benchmarks/bench_pose.py [--frames 48] [--figure docs/img/pose_astronaut.png]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

os.environ.setdefault("GLOG_minloglevel", "2")

import numpy as np  # noqa: E402
from skimage import data  # noqa: E402

from animatex.io import write_image  # noqa: E402
from animatex.pose.detect import extract_poses  # noqa: E402
from animatex.pose.draw import BODY_COLORS, HAND_EDGE_COLORS, LIMB_COLORS, draw_pose, draw_pose_video  # noqa: E402
from animatex.pose.mediapipe_backend import MediaPipeDetector  # noqa: E402
from animatex.pose.sequence import PoseSequence  # noqa: E402
from animatex.pose.skeleton import BODY_LIMBS, HAND_EDGES, LEFT_HAND, RIGHT_HAND  # noqa: E402


def moving_astronaut(count: int) -> np.ndarray:
    """The astronaut photo panned sideways: a 512 x 512 clip with a person who moves."""
    image = data.astronaut()
    return np.stack([np.roll(image, int(48 * np.sin(i / 6)), axis=1) for i in range(count)])


def timed(fn, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def fresh_graph_per_frame(frames: np.ndarray) -> None:
    for frame in frames:
        with MediaPipeDetector(static_image_mode=True) as detector:
            detector.detect(frame)


def draw_matplotlib(seq: PoseSequence) -> np.ndarray:
    """Reference renderer: the same limbs, joints and hands with matplotlib lines and scatter."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dpi = 100
    out = np.empty((len(seq), seq.height, seq.width, 3), np.uint8)
    fig = plt.figure(figsize=(seq.width / dpi, seq.height / dpi), dpi=dpi, facecolor="black")
    ax = fig.add_axes((0, 0, 1, 1))
    for f, points in enumerate(seq.keypoints):
        ax.clear()
        ax.set_facecolor("black")
        ax.set_xlim(0, seq.width)
        ax.set_ylim(seq.height, 0)
        ax.axis("off")
        visible = points[:, 2] >= 0.3
        for (p, c), color in zip(BODY_LIMBS, LIMB_COLORS, strict=True):
            if visible[p] and visible[c]:
                ax.plot(
                    points[[p, c], 0],
                    points[[p, c], 1],
                    color=np.array(color) / 255,
                    lw=6,
                    solid_capstyle="round",
                )
        body = np.flatnonzero(visible[:18])
        ax.scatter(points[body, 0], points[body, 1], c=np.array(BODY_COLORS)[body] / 255, s=40, zorder=3)
        for hand in (LEFT_HAND, RIGHT_HAND):
            for (p, c), color in zip(HAND_EDGES, HAND_EDGE_COLORS, strict=True):
                if visible[hand.start + p] and visible[hand.start + c]:
                    idx = [hand.start + p, hand.start + c]
                    ax.plot(points[idx, 0], points[idx, 1], color=np.array(color) / 255, lw=2)
        fig.canvas.draw()
        out[f] = np.asarray(fig.canvas.buffer_rgba())[..., :3]
    plt.close(fig)
    return out


def synthetic_sequence(count: int, size: int = 512) -> PoseSequence:
    """A figure with body and both hands, jittered per frame (every limb and hand bone visible)."""
    rng = np.random.default_rng(0)
    keypoints = np.zeros((count, 134, 3), np.float32)
    base = rng.uniform(0.2 * size, 0.8 * size, (134, 2))
    keypoints[:, :, :2] = base + rng.normal(0, 3, (count, 134, 2))
    keypoints[:, :18, 2] = 1.0
    keypoints[:, 92:, 2] = 1.0
    return PoseSequence(keypoints, size, size, fps=16)


def figure(path: str) -> None:
    """The astronaut photo beside its extracted skeleton (Animate-X++ style: body + hands, no face)."""
    image = data.astronaut()
    seq = extract_poses(image[None], fps=16, progress=False, name="astronaut")
    write_image(path, np.concatenate([image, draw_pose(seq)], axis=1))
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=48, help="frames for the extraction run")
    parser.add_argument("--figure", help="also write the astronaut picture for docs/pose.md here")
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    # 1. Extraction at 512 px
    frames = moving_astronaut(args.frames)
    extract_poses(frames[:2], 16, progress=False)  # warm-up: load the models once
    reuse = timed(lambda: extract_poses(frames, 16, progress=False)) / len(frames)
    body_only = MediaPipeDetector(whole_body=False)
    body = timed(lambda: extract_poses(frames, 16, progress=False, detector=body_only)) / len(frames)
    body_only.close()
    few = frames[:8]
    fresh = timed(lambda: fresh_graph_per_frame(few)) / len(few)
    print(f"extraction 512x512, mediapipe Holistic, graph reused (extract_poses): {1 / reuse:6.1f} frames/s")
    print(f"extraction 512x512, mediapipe BlazePose only (whole_body=False):      {1 / body:6.1f} frames/s")
    print(f"extraction 512x512, fresh graph per frame (reference):                 {1 / fresh:6.1f} frames/s")
    print(f"  ratio reused / fresh: {fresh / reuse:.1f}x")

    # 2. Drawing at 512 px
    seq = synthetic_sequence(64)
    draw_pose_video(seq[:2])
    ours = timed(lambda: draw_pose_video(seq), repeat=3) / len(seq)
    ref_seq = seq[:16]
    ref = timed(lambda: draw_matplotlib(ref_seq)) / len(ref_seq)
    print(f"drawing 512x512 body + hands, draw_pose_video (OpenCV): {1 / ours:8.1f} frames/s")
    print(f"drawing 512x512 body + hands, matplotlib (reference):    {1 / ref:8.1f} frames/s")
    print(f"  ratio OpenCV / matplotlib: {ref / ours:.0f}x")

    if args.figure:
        figure(args.figure)


if __name__ == "__main__":
    main()
