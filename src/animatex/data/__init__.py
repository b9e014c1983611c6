"""A2Bench-Synth (procedural characters, motions, moving backgrounds, exact ground truth) and the clip format.

Numpy and OpenCV only: no torch here, so data generation and loading stay light.
"""

from animatex.data.backgrounds import DYNAMIC_FAMILIES, STATIC_FAMILIES, BackgroundSpec, render_background
from animatex.data.characters import HELD_OUT_TEMPLATES, TEMPLATES, sample_character
from animatex.data.dataset import Clip, ClipDataset, load_clip, read_index, write_clip
from animatex.data.generate import generate
from animatex.data.motions import MOTION_FAMILIES, Motion, sample_motion
from animatex.data.world import HELD_OUT_MOTIONS, SynthCase, make_case

__all__ = [
    "DYNAMIC_FAMILIES",
    "HELD_OUT_MOTIONS",
    "HELD_OUT_TEMPLATES",
    "MOTION_FAMILIES",
    "STATIC_FAMILIES",
    "TEMPLATES",
    "BackgroundSpec",
    "Clip",
    "ClipDataset",
    "Motion",
    "SynthCase",
    "generate",
    "load_clip",
    "make_case",
    "read_index",
    "render_background",
    "sample_character",
    "sample_motion",
    "write_clip",
]
