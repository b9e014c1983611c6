"""Captions: who moves, how, and what the background does, in several paraphrases.

Every paraphrase of a background states its motion words (direction, speed, density) from the spec's
parameters and nothing that contradicts them; `tests/data/test_captions.py` checks this.
"""

from __future__ import annotations

import re

import numpy as np

from animatex.data.backgrounds import BackgroundSpec

# What a held-still background says (the training-time still-background variant, docs/training.md).
STILL_PHRASES: tuple[str, ...] = (
    "the background does not move",
    "the background stays still",
    "nothing moves in the background",
)
_SPEED = {"slow": ("slowly", "gently"), "fast": ("quickly", "fast")}
_WIND = {"none": "", "left": " to the left", "right": " to the right"}


def background_phrases(spec: BackgroundSpec, pronoun: str) -> list[str]:
    """Paraphrases of what the background does, e.g. "snow is falling slowly behind her"."""
    p = spec.params
    fam = spec.family
    behind = f"behind {pronoun}"
    if not spec.dynamic:
        place = {"gradient": "backdrop", "room": "room", "tiles": "tiled wall"}[fam]
        return [
            f"the {place} {behind} stays still",
            "the background does not move",
            f"nothing moves in the {place} {behind}",
        ]
    slow, quick = _SPEED[p["speed"]]
    if fam == "snow":
        heavy = "heavy" if p["density"] == "heavy" else "light"
        wind = _WIND[p["wind"]]
        drift = f", drifting{wind}" if wind else ""
        return [
            f"snow is falling {slow} {behind}{drift}",
            f"{heavy} snow falls {quick} in the background{drift}",
            f"snowflakes drift down {slow}{wind} {behind}",
        ]
    if fam == "rain":
        heavy = "heavy" if p["density"] == "heavy" else "light"
        wind = _WIND[p["wind"]]
        slant = f", slanting{wind}" if wind else ""
        return [
            f"{heavy} rain is pouring down {slow} {behind}{slant}",
            f"it is raining {quick} in the background{slant}",
            f"raindrops fall {slow}{wind} {behind}",
        ]
    if fam == "clouds":
        d = p["direction"]
        return [
            f"clouds drift {slow} to the {d} {behind}",
            f"in the sky {behind}, clouds move {quick} to the {d}",
            f"white clouds float {slow} {d}ward across the blue sky",
        ]
    if fam == "lights":
        return [
            f"lights are flickering {quick} {behind}",
            f"colourful lights blink {slow} in the background",
            f"the party lights {behind} flicker on and off {quick}",
        ]
    if fam == "waves":
        d, rough = p["direction"], "rough" if p["height"] == "rough" else "calm"
        return [
            f"{rough} waves roll {slow} to the {d} {behind}",
            f"the sea {behind} is {rough}, its waves moving {quick} to the {d}",
            f"{rough} waves travel {slow} {d}ward across the water in the background",
        ]
    if fam == "fire":
        heavy = "many" if p["density"] == "heavy" else "a few"
        return [
            f"flames are burning {behind} and {heavy} sparks rise {slow}",
            f"a fire burns in the background, {heavy} sparks floating up {quick}",
            f"sparks rise {slow} from the flames {behind}",
        ]
    if fam == "scrolling":
        d, what = p["direction"], "striped" if p["pattern"] == "stripes" else "checkered"
        return [
            f"the {what} wall {behind} scrolls {slow} {d}",
            f"a {what} pattern moves {quick} {d} in the background",
            f"the {what} backdrop slides {slow} {d} {behind}",
        ]
    raise ValueError(f"no captions for background family {fam!r}")


def make_captions(subject: str, verb: str, spec: BackgroundSpec, pronoun: str) -> list[str]:
    """Full captions, one per background paraphrase: "<subject> is <verb>, <background>."."""
    return [f"{subject} is {verb}, {phrase}." for phrase in background_phrases(spec, pronoun)]


def pick_caption(captions: list[str], rng: np.random.Generator) -> str:
    return captions[int(rng.integers(len(captions)))]


def subject_of(caption: str) -> str:
    """"an orange teapot is walking in place, snow falls ..." -> "an orange teapot is walking in place"."""
    return caption.split(",")[0].strip().rstrip(".")


def still_caption(caption: str, rng: np.random.Generator) -> str:
    """The caption's subject and verb with a still-background phrase instead of what it said of the background."""
    return f"{subject_of(caption)}, {STILL_PHRASES[int(rng.integers(len(STILL_PHRASES)))]}."


_SIDES = re.compile(r"\b(left|right)(ward)?\b")


def mirror_caption(caption: str) -> str:
    """The caption of the left-right mirrored video: "left" and "right" (and "-ward") trade places."""
    return _SIDES.sub(lambda m: {"left": "right", "right": "left"}[m[1]] + (m[2] or ""), caption)


def stated_side(caption: str) -> str | None:
    """"left" or "right" when the caption says which way something moves sideways, else None."""
    match = _SIDES.search(caption)
    return match[1] if match else None


def with_side(caption: str, side: str) -> str:
    """The caption moving things to `side` ("left" or "right"): itself, or its mirror when it says the other."""
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    stated = stated_side(caption)
    if stated is None:
        raise ValueError(f"the caption names no side to change: {caption!r}")
    return caption if stated == side else mirror_caption(caption)
