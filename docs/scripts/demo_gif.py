"""Draw docs/img/demo.gif (the README's picture) from the grid video `make demo` writes.

Run from the repository root after `make demo`: `.venv/bin/python docs/scripts/demo_gif.py`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

from animatex.io import read_video, write_video

SCALE = 2  # the demo model works at 64x64; nearest-neighbour upscaling keeps its pixels honest


def main(grid: str = "outputs/demo_grid.mp4", out: str = "docs/img/demo.gif") -> None:
    frames, fps = read_video(grid)
    big = np.stack(
        [cv2.resize(f, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_NEAREST) for f in frames]
    )
    write_video(Path(out), big, fps)
    print(f"wrote {out} ({len(big)} frames, {big.shape[2]}x{big.shape[1]})")


if __name__ == "__main__":
    main(*sys.argv[1:])
