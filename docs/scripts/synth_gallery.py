"""Pictures of the synthetic world for the docs: `python docs/scripts/synth_gallery.py docs/img`."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

from animatex.data.characters import TEMPLATES
from animatex.data.world import SynthCase, make_case
from animatex.io import write_image, write_video


def _label(image: np.ndarray, text: str) -> np.ndarray:
    out = image.copy()
    cv2.putText(out, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def template_gallery(size: int = 160, per_template: int = 2, columns: int = 6) -> np.ndarray:
    """A grid of reference images: `per_template` random identities of every template."""
    tiles = []
    for k in range(per_template):
        for i, name in enumerate(TEMPLATES):
            case = make_case(1000 * k + i, TEMPLATES[name].kind, "test", 0, size, 1, template=name)
            tiles.append(_label(case.reference, name))
    rows = [np.concatenate(tiles[r : r + columns], axis=1) for r in range(0, len(tiles), columns)]
    return np.concatenate(rows, axis=0)


def case_strip(case: SynthCase) -> np.ndarray:
    """(F, H, 3W, 3): reference | driving | ground truth, side by side."""
    reference = np.broadcast_to(_label(case.reference, "reference"), case.target.shape)
    driving = np.stack([_label(f, "driving") for f in case.driving])
    target = np.stack([_label(f, "ground truth") for f in case.target])
    return np.concatenate([reference, driving, target], axis=2)


def main(out: str = "docs/img") -> None:
    out_dir = Path(out)
    write_image(out_dir / "synth_gallery.png", template_gallery())
    case = make_case(3, "anthro", "test", 0, 160, 33, template="chibi", family="dance_disco")
    write_video(out_dir / "synth_case.gif", case_strip(case), case.meta["fps"])
    print(case.caption)


if __name__ == "__main__":
    main(*sys.argv[1:])
