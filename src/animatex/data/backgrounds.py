"""Static and moving backgrounds with the parameters their captions state.

A `BackgroundSpec` is a family name, its parameters (direction, speed, density...) and a seed; rendering
is a pure function of the spec and the frame size, so a clip stores the spec in `meta.json` and the clean
background can always be regenerated. Speeds are in frame heights (or widths) per second, so the look
does not depend on the resolution. Particle positions are computed for all frames at once with numpy;
OpenCV draws them anti-aliased.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import cv2
import numpy as np

from animatex.errors import AnimatexError

STATIC_FAMILIES: tuple[str, ...] = ("gradient", "room", "tiles")
DYNAMIC_FAMILIES: tuple[str, ...] = ("snow", "rain", "clouds", "lights", "waves", "fire", "scrolling")

# Speed words and ranges (frame sizes per second) for the "slow" and "fast" settings.
SPEEDS = {"slow": (0.12, 0.22), "fast": (0.45, 0.7)}

_SHIFT = 4
_ONE = 1 << _SHIFT


@dataclass
class BackgroundSpec:
    """Which background, with what motion; `params` holds the words the caption uses."""

    family: str
    params: dict = field(default_factory=dict)
    seed: int = 0

    @property
    def dynamic(self) -> bool:
        return self.family in DYNAMIC_FAMILIES

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> BackgroundSpec:
        return cls(data["family"], dict(data.get("params", {})), int(data.get("seed", 0)))


def _color(rng: np.random.Generator, lo: float = 0.0, hi: float = 1.0) -> list[int]:
    return [int(v) for v in rng.uniform(lo * 255, hi * 255, 3)]


def sample_background(
    rng: np.random.Generator, family: str | None = None, dynamic: bool = True
) -> BackgroundSpec:
    """A random background of `family` (or of a random dynamic / static family)."""
    if family is None:
        pool = DYNAMIC_FAMILIES if dynamic else STATIC_FAMILIES
        family = pool[rng.integers(len(pool))]
    if family not in STATIC_FAMILIES + DYNAMIC_FAMILIES:
        raise AnimatexError(
            f"unknown background family {family!r}; choose one of {STATIC_FAMILIES + DYNAMIC_FAMILIES}"
        )
    speed = ("slow", "fast")[rng.integers(2)]
    p: dict = {"speed": speed, "speed_value": float(rng.uniform(*SPEEDS[speed]))}
    if family in ("gradient", "room", "tiles"):
        p = {"top": _color(rng, 0.3, 1.0), "bottom": _color(rng, 0.1, 0.8)}
    elif family in ("snow", "rain"):
        p |= {
            "wind": ("none", "left", "right")[rng.integers(3)],
            "density": ("light", "heavy")[rng.integers(2)],
        }
    elif family == "clouds":
        p |= {"direction": ("left", "right")[rng.integers(2)]}
    elif family == "lights":
        p = {
            "speed": speed,
            "rate_hz": float(rng.uniform(1.0, 2.0) if speed == "slow" else rng.uniform(4.0, 6.0)),
        }
    elif family == "waves":
        p |= {"direction": ("left", "right")[rng.integers(2)], "height": ("calm", "rough")[rng.integers(2)]}
    elif family == "fire":
        p |= {"density": ("light", "heavy")[rng.integers(2)]}
    elif family == "scrolling":
        first = _color(rng, 0.15, 0.85)
        p |= {"direction": ("left", "right", "up", "down")[rng.integers(4)],
              "pattern": ("stripes", "checks")[rng.integers(2)], "colors": [first, [255 - v for v in first]]}  # fmt: skip
    return BackgroundSpec(family, p, int(rng.integers(2**31)))


# ---- rendering -----------------------------------------------------------------------------------


def _vertical_gradient(height: int, width: int, top, bottom) -> np.ndarray:
    a = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    img = np.asarray(top, np.float32) * (1 - a) + np.asarray(bottom, np.float32) * a
    return np.broadcast_to(img, (height, width, 3)).copy()


def _speed_px(p: dict, size: int, fps: float) -> float:
    """Pixels per frame."""
    return p["speed_value"] * size / fps


def _static(spec: BackgroundSpec, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    p = spec.params
    img = _vertical_gradient(h, w, p["top"], p["bottom"])
    if spec.family == "room":
        floor = int(h * rng.uniform(0.7, 0.8))
        img[floor:] = np.asarray(p["bottom"], np.float32) * 0.6
        x0, y0 = rng.uniform(0.1, 0.6) * w, rng.uniform(0.1, 0.3) * h
        frame = np.round(np.array([[x0, y0], [x0 + 0.3 * w, y0 + 0.25 * h]]) * _ONE).astype(int)
        cv2.rectangle(img, tuple(frame[0]), tuple(frame[1]), (250, 250, 240), -1, cv2.LINE_AA, _SHIFT)
    elif spec.family == "tiles":
        n = rng.integers(4, 9)
        yy, xx = np.mgrid[0:h, 0:w]
        checks = ((xx * n // w + yy * n // h) % 2).astype(np.float32)[..., None]
        img = img * (0.85 + 0.15 * checks)
    return np.broadcast_to(img, img.shape)


def _particles(spec: BackgroundSpec, f: int, h: int, w: int, fps: float, rng: np.random.Generator):
    """(F, N, 2) positions of falling (or rising) particles that wrap around the frame."""
    p = spec.params
    n = max(8, int((w * h / 400) * (2.0 if p.get("density") == "heavy" else 1.0)))
    x0, y0 = rng.uniform(0, w, n), rng.uniform(0, h, n)
    vy = _speed_px(p, h, fps) * rng.uniform(0.8, 1.2, n)
    wind = {"none": 0.0, "left": -0.5, "right": 0.5}[p.get("wind", "none")]
    t = np.arange(f)[:, None]
    sway = 0.6 * np.sin(0.3 * t + rng.uniform(0, 2 * np.pi, n))
    y = np.mod(y0 + vy * t, h + 8) - 4
    x = np.mod(x0 + wind * vy * t + sway, w + 8) - 4
    return np.stack([x, y], axis=-1), vy, n


def _snow(spec, f, h, w, fps, rng):
    top, bottom = (20, 30, 60), (90, 100, 140)
    base = _vertical_gradient(h, w, top, bottom)
    pos, _, n = _particles(spec, f, h, w, fps, rng)
    radius = rng.uniform(0.5, 1.2, n) * max(h, 64) / 110
    frames = np.empty((f, h, w, 3), np.uint8)
    for i in range(f):
        img = base.copy()
        for (x, y), r in zip(pos[i] * _ONE, radius * _ONE, strict=True):
            cv2.circle(img, (int(x), int(y)), int(r), (245, 245, 255), -1, cv2.LINE_AA, _SHIFT)
        frames[i] = img
    return frames


def _rain(spec, f, h, w, fps, rng):
    base = _vertical_gradient(h, w, (70, 80, 95), (120, 125, 135))
    pos, vy, n = _particles(spec, f, h, w, fps, rng)
    wind = {"none": 0.0, "left": -0.5, "right": 0.5}[spec.params["wind"]]
    streak = np.stack([wind * np.ones(n), np.ones(n)], axis=-1) * (0.05 * h)
    frames = np.empty((f, h, w, 3), np.uint8)
    for i in range(f):
        img = base.copy()
        a = np.round(pos[i] * _ONE).astype(int)
        b = np.round((pos[i] - streak) * _ONE).astype(int)
        for (ax, ay), (bx, by) in zip(a, b, strict=True):
            cv2.line(img, (ax, ay), (bx, by), (200, 210, 230), 1, cv2.LINE_AA, _SHIFT)
        frames[i] = img
    return frames


def _clouds(spec, f, h, w, fps, rng):
    sky = _vertical_gradient(h, w, (60, 120, 220), (170, 210, 250))
    period = 2 * w
    cover = np.zeros((h, period), np.float32)
    for _ in range(int(rng.integers(5, 9))):
        cx, cy = rng.uniform(0, period), rng.uniform(0.05, 0.6) * h
        for _ in range(5):
            ox, oy = rng.normal(0, 0.06 * w), rng.normal(0, 0.03 * h)
            axes = (int(rng.uniform(0.06, 0.12) * w * _ONE), int(rng.uniform(0.04, 0.07) * h * _ONE))
            for wrap in (-period, 0, period):  # draw across the seam so the strip tiles
                centre = (int((cx + ox + wrap) * _ONE), int((cy + oy) * _ONE))
                cv2.ellipse(cover, centre, axes, 0, 0, 360, 1.0, -1, cv2.LINE_AA, _SHIFT)
    # OpenCV blurs cannot wrap, so pad the strip periodically, blur, and cut the padding off again.
    pad = max(4, int(0.06 * w))
    cover = np.pad(cover, ((0, 0), (pad, pad)), mode="wrap")
    cover = cv2.GaussianBlur(cover, (0, 0), max(0.8, 0.015 * w))[:, pad:-pad]
    sign = -1.0 if spec.params["direction"] == "left" else 1.0
    v = sign * _speed_px(spec.params, w, fps)
    frames = np.empty((f, h, w, 3), np.uint8)
    for i in range(f):
        shift = np.float32([[1, 0, v * i], [0, 1, 0]])
        a = cv2.warpAffine(cover, shift, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)[
            ..., None
        ]
        frames[i] = np.clip(sky * (1 - 0.9 * a) + 250 * 0.9 * a, 0, 255).astype(np.uint8)
    return frames


def _lights(spec, f, h, w, fps, rng):
    k = int(rng.integers(8, 14))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = rng.uniform(0, w, k), rng.uniform(0, 0.7 * h, k)
    sigma = rng.uniform(0.03, 0.07, k) * w
    glow = np.exp(
        -((xx[None] - cx[:, None, None]) ** 2 + (yy[None] - cy[:, None, None]) ** 2)
        / (2 * sigma[:, None, None] ** 2)
    )
    colors = rng.uniform(120, 255, (k, 3)).astype(np.float32)
    t = np.arange(f)[:, None] / fps
    phase = rng.uniform(0, 2 * np.pi, k)
    # On/off flicker: a sharpened sine at the stated rate with per-light phases and small rate jitter.
    rate = spec.params["rate_hz"] * rng.uniform(0.85, 1.15, k)
    level = 0.15 + 0.85 / (1 + np.exp(-6 * np.sin(2 * np.pi * rate * t + phase)))
    base = _vertical_gradient(h, w, (15, 10, 30), (40, 30, 50))
    light = np.einsum(
        "fk,khw,kc->fhwc", level.astype(np.float32), glow.astype(np.float32), colors, optimize=True
    )
    return np.clip(base[None] + light, 0, 255).astype(np.uint8)


def _waves(spec, f, h, w, fps, rng):
    p = spec.params
    sky = _vertical_gradient(h, w, (120, 170, 230), (200, 225, 250))
    sign = -1.0 if p["direction"] == "left" else 1.0
    v = sign * _speed_px(p, w, fps)  # crest speed in px/frame
    amp = (0.015 if p["height"] == "calm" else 0.04) * h
    k1 = 2 * np.pi / (w * rng.uniform(0.3, 0.5))
    x = np.arange(w, dtype=np.float32)[None, :]
    t = np.arange(f, dtype=np.float32)[:, None]
    phase = rng.uniform(0, 2 * np.pi)
    surface = 0.62 * h + amp * (
        np.sin(k1 * (x - v * t) + phase) + 0.4 * np.sin(2 * k1 * (x - v * t))
    )  # (F, W)
    y = np.arange(h, dtype=np.float32)[None, :, None]
    water = np.clip(y - surface[:, None, :] + 0.5, 0, 1)[..., None]  # anti-aliased edge
    depth = np.clip((y - surface[:, None, :]) / (0.4 * h), 0, 1)[..., None]
    ripple = 0.08 * np.sin(k1 * 2.5 * (x[None] - v * t[:, :, None]) + 0.5 * y)[..., None]
    sea = np.array([30, 110, 170], np.float32) * (1.1 - 0.5 * depth + ripple)
    foam = np.exp(-((y - surface[:, None, :] - 1.0) ** 2) / 1.5)[..., None] * 200
    out = sky[None] * (1 - water) + (sea + foam) * water
    return np.clip(out, 0, 255).astype(np.uint8)


def _fire(spec, f, h, w, fps, rng):
    base = _vertical_gradient(h, w, (20, 10, 15), (60, 20, 10))
    t = np.arange(f)[:, None] / fps
    x = np.arange(w, dtype=np.float32)
    # Flame tongues along the bottom whose heights flicker.
    m = int(rng.integers(5, 9))
    fx = np.linspace(0, w, m) + rng.uniform(-0.05, 0.05, m) * w
    fh = (0.18 + 0.1 * np.sin(2 * np.pi * rng.uniform(2, 4, m) * t + rng.uniform(0, 6, m))) * h  # (F, M)
    width = w / m * 0.7
    height = (fh[:, :, None] * np.exp(-((x[None, None] - fx[None, :, None]) ** 2) / (2 * width**2))).max(1)
    y = np.arange(h, dtype=np.float32)[None, :, None]
    heat = np.clip((y - (h - height[:, None, :])) / np.maximum(height[:, None, :], 1), 0, 1)[..., None]
    flame = np.array([255, 90, 10], np.float32) * heat**0.5 + np.array([0, 150, 40], np.float32) * heat**2
    frames = np.clip(base[None] * (1 - heat) + flame, 0, 255).astype(np.uint8)
    # Sparks rise (the particle field flipped vertically).
    pos, _, n = _particles(spec, f, h, w, fps, rng)
    pos[..., 1] = h - pos[..., 1]
    r = 0.5 + 0.6 * rng.random(n)
    for i in range(f):
        for (px, py), ri in zip(pos[i] * _ONE, r * _ONE, strict=True):
            cv2.circle(frames[i], (int(px), int(py)), int(ri), (255, 200, 80), -1, cv2.LINE_AA, _SHIFT)
    return frames


def _scrolling(spec, f, h, w, fps, rng):
    p = spec.params
    d = p["direction"]
    size = h if d in ("up", "down") else w
    v = _speed_px(p, size, fps)
    vx = {"left": -v, "right": v}.get(d, 0.0)
    vy = {"up": -v, "down": v}.get(d, 0.0)
    period = size / rng.integers(3, 6)
    t = np.arange(f, dtype=np.float32)[:, None, None]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    u = (xx[None] - vx * t) * 2 * np.pi / period
    q = (yy[None] - vy * t) * 2 * np.pi / period
    if p["pattern"] == "stripes":
        # Stripes across the motion: slanted ones would be ambiguous (moving along them shows nothing).
        s = np.sin(u) if d in ("left", "right") else np.sin(q)
    else:
        s = np.sin(u) * np.sin(q)
    a = np.clip(s * 3.0 + 0.5, 0, 1)[..., None]  # soft edges, no aliasing
    c0, c1 = (np.asarray(c, np.float32) for c in p["colors"])
    return np.clip(c0 * (1 - a) + c1 * a, 0, 255).astype(np.uint8)


_RENDERERS = {"snow": _snow, "rain": _rain, "clouds": _clouds, "lights": _lights, "waves": _waves,
              "fire": _fire, "scrolling": _scrolling}  # fmt: skip


def render_background(
    spec: BackgroundSpec, num_frames: int, height: int, width: int, fps: float = 16.0
) -> np.ndarray:
    """(F, H, W, 3) uint8 frames; a pure function of the spec and the size."""
    if num_frames < 1 or height < 8 or width < 8:
        raise AnimatexError(
            f"background size must be at least 1 frame of 8x8, got {num_frames}x{height}x{width}"
        )
    rng = np.random.default_rng(spec.seed)
    if spec.family in STATIC_FAMILIES:
        img = np.clip(_static(spec, height, width, rng), 0, 255).astype(np.uint8)
        return np.repeat(img[None], num_frames, axis=0)
    if spec.family not in _RENDERERS:
        raise AnimatexError(f"unknown background family {spec.family!r}")
    return _RENDERERS[spec.family](spec, num_frames, height, width, fps, rng)
