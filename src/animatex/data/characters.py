"""Body-shape templates and random characters for the A2Bench-Synth world.

A template fixes proportions (the 17 bone lengths in stature units, part widths, head size) and the extras
that make a figure anthropomorphic (animal ears, a tail, a round object body). `sample_character` jitters
the proportions and picks colours, a clothing pattern and a face, giving one identity.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass, field

import numpy as np

from animatex.errors import AnimatexError


@dataclass(frozen=True)
class BodyTemplate:
    """Proportions in stature units (about head top to ankle = 1 for the human adult)."""

    name: str
    kind: str  # "human" or "anthro"
    noun: str  # caption noun, e.g. "a chibi character"
    pronoun: str  # "her", "him" or "it"
    shoulder: float
    upper_arm: float
    forearm: float
    torso: float
    thigh: float
    shin: float
    neck: float  # neck to nose
    eye: float  # nose to eye
    ear: float  # eye to ear
    head: tuple[float, float]  # head half-width, half-height
    arm_width: float
    leg_width: float
    torso_pad: float  # how far the drawn torso reaches past the shoulder and hip joints
    body: str = "human"  # "human", "round" or "teapot"
    round_body: tuple[float, float] = (0.0, 0.0)  # half-axes of a round body
    ears: str = "human"  # "human", "cat", "bunny", "none"
    tail: str = "none"  # "none", "cat", "puff"
    eye_size: float = 0.12  # eye radius as a fraction of the head half-height
    hair: bool = True

    def lengths(self) -> np.ndarray:
        """The 17 bone lengths in `BODY_LIMBS` order."""
        s, ua, fa, t, th, sh = self.shoulder, self.upper_arm, self.forearm, self.torso, self.thigh, self.shin
        return np.array(
            [s, s, ua, fa, ua, fa, t, th, sh, t, th, sh, self.neck, self.eye, self.ear, self.eye, self.ear]
        )


_ADULT = dict(
    shoulder=0.11, upper_arm=0.16, forearm=0.15, torso=0.30, thigh=0.23, shin=0.22, neck=0.10, eye=0.028,
    ear=0.04, head=(0.058, 0.07), arm_width=0.042, leg_width=0.055, torso_pad=0.03,
)  # fmt: skip


def _t(name: str, kind: str, noun: str, pronoun: str, **overrides) -> BodyTemplate:
    return BodyTemplate(name=name, kind=kind, noun=noun, pronoun=pronoun, **{**_ADULT, **overrides})


TEMPLATES: dict[str, BodyTemplate] = {
    t.name: t
    for t in (
        # Human proportions.
        _t("woman", "human", "a woman", "her", shoulder=0.10, arm_width=0.038, leg_width=0.05),
        _t("man", "human", "a man", "him", shoulder=0.12, torso=0.31, head=(0.06, 0.07)),
        _t("athlete", "human", "an athletic man", "him", shoulder=0.14, upper_arm=0.17, arm_width=0.05,
           leg_width=0.062, torso_pad=0.04),
        _t("child", "human", "a child", "her", shoulder=0.09, upper_arm=0.13, forearm=0.12, torso=0.25,
           thigh=0.19, shin=0.18, neck=0.11, head=(0.08, 0.09), eye_size=0.15),
        # Anthropomorphic proportions.
        _t("chibi", "anthro", "a chibi character with a big head", "it", shoulder=0.08, upper_arm=0.10,
           forearm=0.09, torso=0.18, thigh=0.12, shin=0.11, neck=0.13, eye=0.055, ear=0.07, head=(0.15, 0.14),
           arm_width=0.05, leg_width=0.06, eye_size=0.22),
        _t("short_legs", "anthro", "a short-legged character", "it", shoulder=0.13, torso=0.32, thigh=0.11,
           shin=0.10, arm_width=0.05, leg_width=0.075, torso_pad=0.05, head=(0.08, 0.085), eye_size=0.18),
        _t("long_arms", "anthro", "a long-armed character", "it", shoulder=0.10, upper_arm=0.27, forearm=0.26,
           arm_width=0.035, head=(0.07, 0.075), eye_size=0.18),
        _t("fruit", "anthro", "a fruit character", "it", shoulder=0.09, upper_arm=0.11, forearm=0.10,
           torso=0.24, thigh=0.11, shin=0.10, neck=0.08, head=(0.06, 0.06), arm_width=0.025, leg_width=0.03,
           body="round", round_body=(0.20, 0.19), ears="none", hair=False, eye_size=0.2),
        _t("teapot", "anthro", "a teapot character", "it", shoulder=0.10, upper_arm=0.12, forearm=0.11,
           torso=0.26, thigh=0.10, shin=0.10, neck=0.09, head=(0.09, 0.06), arm_width=0.025, leg_width=0.035,
           body="teapot", round_body=(0.21, 0.17), ears="none", hair=False, eye_size=0.2),
        _t("tall_thin", "anthro", "a tall thin figure", "it", shoulder=0.08, upper_arm=0.21, forearm=0.20,
           torso=0.37, thigh=0.31, shin=0.30, neck=0.09, head=(0.045, 0.06), arm_width=0.024,
           leg_width=0.03, torso_pad=0.015),
        _t("cat", "anthro", "a cartoon cat", "it", shoulder=0.10, torso=0.27, thigh=0.17, shin=0.16,
           head=(0.10, 0.09), eye=0.04, ear=0.05, ears="cat", tail="cat", hair=False, eye_size=0.2),
        _t("bunny", "anthro", "a cartoon bunny", "it", shoulder=0.09, torso=0.26, thigh=0.16, shin=0.15,
           head=(0.09, 0.085), eye=0.035, ear=0.045, ears="bunny", tail="puff", hair=False, eye_size=0.18,
           leg_width=0.065),
    )
}  # fmt: skip

# Templates never used for the train subset (evaluation measures unseen body shapes on them).
HELD_OUT_TEMPLATES: frozenset[str] = frozenset({"child", "teapot", "bunny"})

SKIN_TONES = ((255, 219, 172), (241, 194, 125), (224, 172, 105), (198, 134, 66), (141, 85, 36), (92, 56, 36))
FRUITS = {"apple": (200, 30, 40), "orange": (245, 140, 20), "lemon": (245, 220, 40), "lime": (120, 200, 40),
          "plum": (120, 40, 130)}  # fmt: skip
PATTERNS = ("plain", "stripes", "dots")


def templates_for(split: str, subset: str) -> list[str]:
    """Template names a split/subset draws reference characters from (held-out ones only in test)."""
    if split not in ("human", "anthro"):
        raise AnimatexError(f"split must be 'human' or 'anthro', got {split!r}")
    if subset not in ("train", "test"):
        raise AnimatexError(f"subset must be 'train' or 'test', got {subset!r}")
    names = [n for n, t in TEMPLATES.items() if t.kind == split]
    return names if subset == "test" else [n for n in names if n not in HELD_OUT_TEMPLATES]


@dataclass
class Character:
    """One identity: a template with jittered proportions, colours and a pattern."""

    template: BodyTemplate
    lengths: np.ndarray  # (17,) stature units
    colors: dict[str, tuple[int, int, int]]
    pattern: str
    description: str  # caption noun phrase, e.g. "a cartoon cat with orange fur"
    scale_jitter: dict[str, float] = field(default_factory=dict)

    @property
    def pronoun(self) -> str:
        return self.template.pronoun

    def meta(self) -> dict:
        return {
            "template": self.template.name,
            "kind": self.template.kind,
            "lengths": [round(float(v), 6) for v in self.lengths],
            "colors": {k: list(v) for k, v in self.colors.items()},
            "pattern": self.pattern,
            "description": self.description,
        }


def _hsv(rng: np.random.Generator, s: tuple[float, float], v: tuple[float, float]) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(rng.random(), rng.uniform(*s), rng.uniform(*v))
    return int(r * 255), int(g * 255), int(b * 255)


def _color_name(rgb: tuple[int, int, int]) -> str:
    """A coarse English colour word for captions."""
    h, s, v = colorsys.rgb_to_hsv(*(c / 255 for c in rgb))
    if v < 0.25:
        return "black"
    if s < 0.2:
        return "white" if v > 0.8 else "grey"
    names = ((0.04, "red"), (0.11, "orange"), (0.18, "yellow"), (0.45, "green"), (0.55, "teal"),
             (0.72, "blue"), (0.83, "purple"), (0.95, "pink"), (1.01, "red"))  # fmt: skip
    return next(name for limit, name in names if h < limit)


def sample_character(template: str | BodyTemplate, rng: np.random.Generator) -> Character:
    """A random identity of `template`: proportions jittered by up to 8 %, colours, pattern, face."""
    if isinstance(template, str):
        if template not in TEMPLATES:
            raise AnimatexError(f"unknown character template {template!r}; choose one of {sorted(TEMPLATES)}")
        template = TEMPLATES[template]
    jitter = {part: float(rng.uniform(0.92, 1.08)) for part in ("arms", "legs", "torso", "shoulders")}
    lengths = template.lengths().copy()
    lengths[[2, 3, 4, 5]] *= jitter["arms"]
    lengths[[7, 8, 10, 11]] *= jitter["legs"]
    lengths[[6, 9]] *= jitter["torso"]
    lengths[[0, 1]] *= jitter["shoulders"]
    shirt = _hsv(rng, (0.5, 0.9), (0.5, 0.95))
    colors = {
        "shirt": shirt,
        "pants": _hsv(rng, (0.3, 0.8), (0.2, 0.6)),
        "shoes": _hsv(rng, (0.0, 0.5), (0.1, 0.4)),
        "accent": _hsv(rng, (0.4, 0.9), (0.7, 1.0)),
        "hair": _hsv(rng, (0.3, 0.8), (0.1, 0.5)),
        "eyes": (30, 30, 40),
        "mouth": (120, 30, 40),
    }
    if template.kind == "human":
        colors["skin"] = SKIN_TONES[rng.integers(len(SKIN_TONES))]
        description = f"{template.noun} in a {_color_name(shirt)} shirt"
    elif template.body == "round":
        fruit = list(FRUITS)[rng.integers(len(FRUITS))]
        colors["skin"] = colors["shirt"] = FRUITS[fruit]
        colors["accent"] = (60, 150, 50)  # the leaf
        description = f"an {fruit} character" if fruit[0] in "aeiou" else f"a {fruit} character"
    else:
        colors["skin"] = _hsv(rng, (0.3, 0.8), (0.6, 0.95))
        noun = template.noun.removeprefix("a ").removeprefix("an ")
        color = _color_name(colors["skin"])
        description = f"{'an' if color[0] in 'aeiou' else 'a'} {color} {noun}"
        if template.body == "teapot":
            colors["shirt"] = colors["skin"]
    pattern = PATTERNS[rng.integers(len(PATTERNS))] if template.body != "round" else "plain"
    return Character(template, lengths, colors, pattern, description, jitter)
