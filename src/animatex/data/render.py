"""Anti-aliased OpenCV rendering of characters as premultiplied colour + alpha layers.

Every part is a float polygon filled with `cv2.LINE_AA` at 1/16 pixel precision (`shift=4`). Each shape
is drawn twice, into the colour layer and into the alpha layer; because OpenCV blends anti-aliased edges
with what is already there, the colour layer over black is the premultiplied character, and compositing
is `colour + background * (1 - alpha)`. The mask is `alpha >= 128`.
"""

from __future__ import annotations

import cv2
import numpy as np

from animatex.data.characters import Character

_SHIFT = 4
_ONE = float(1 << _SHIFT)
Color = tuple[int, int, int]


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.hypot(v[0], v[1]))
    return v / n if n > 1e-9 else np.array([0.0, 1.0])


def _ellipse(center, rx: float, ry: float, ax_r, ax_u, n: int = 24, t0: float = 0.0, t1: float = 2 * np.pi):
    """Points on an ellipse with half-axes rx along `ax_r` and ry along `ax_u`."""
    t = np.linspace(t0, t1, n, endpoint=(t1 - t0) < 2 * np.pi - 1e-6)
    return center + np.cos(t)[:, None] * rx * ax_r + np.sin(t)[:, None] * ry * ax_u


def _capsule(p0, p1, r0: float, r1: float, n: int = 6) -> np.ndarray:
    """A tapered limb: half-discs of radius r0 at p0 and r1 at p1 joined by straight sides."""
    d = _unit(p1 - p0)
    nrm = np.array([-d[1], d[0]])
    a = np.linspace(-np.pi / 2, np.pi / 2, n)[:, None]
    end = p1 + r1 * (np.cos(a) * d + np.sin(a) * nrm)
    start = p0 + r0 * (-np.cos(a) * d - np.sin(a) * nrm)
    return np.concatenate([end, start])


def _clip(poly: np.ndarray, normal: np.ndarray, offset: float) -> np.ndarray:
    """Sutherland-Hodgman: the part of `poly` where dot(p, normal) >= offset."""
    if len(poly) == 0:
        return poly
    side = poly @ normal - offset
    out = []
    for i in range(len(poly)):
        j = (i + 1) % len(poly)
        if side[i] >= 0:
            out.append(poly[i])
        if (side[i] >= 0) != (side[j] >= 0):
            out.append(poly[i] + (poly[j] - poly[i]) * (side[i] / (side[i] - side[j])))
    return np.array(out).reshape(-1, 2)


class Layer:
    """A premultiplied RGB layer and its alpha, drawn together."""

    def __init__(self, height: int, width: int) -> None:
        self.color = np.zeros((height, width, 3), np.uint8)
        self.alpha = np.zeros((height, width), np.uint8)

    def fill(self, pts: np.ndarray, color: Color, solid: bool = True) -> None:
        """Fill a polygon; `solid=False` paints colour only (details inside an opaque part)."""
        p = [np.round(np.asarray(pts) * _ONE).astype(np.int32).reshape(-1, 1, 2)]
        cv2.fillPoly(self.color, p, color, cv2.LINE_AA, _SHIFT)
        if solid:
            cv2.fillPoly(self.alpha, p, 255, cv2.LINE_AA, _SHIFT)

    def stroke(self, pts: np.ndarray, color: Color, width: float, solid: bool = False) -> None:
        p = [np.round(np.asarray(pts) * _ONE).astype(np.int32).reshape(-1, 1, 2)]
        w = max(1, int(round(width)))
        cv2.polylines(self.color, p, False, color, w, cv2.LINE_AA, _SHIFT)
        if solid:
            cv2.polylines(self.alpha, p, False, 255, w, cv2.LINE_AA, _SHIFT)

    def composite(self, background: np.ndarray) -> np.ndarray:
        """This layer over an RGB uint8 background."""
        a = self.alpha.astype(np.float32)[..., None] / 255.0
        out = self.color.astype(np.float32) + background.astype(np.float32) * (1.0 - a)
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)

    @property
    def mask(self) -> np.ndarray:
        return self.alpha >= 128


def _darker(c: Color, f: float = 0.7) -> Color:
    return tuple(int(v * f) for v in c)


def part_padding(character: Character) -> np.ndarray:
    """(18,) how far (stature units) drawn parts reach beyond each joint: for fitting clips in frame."""
    t = character.template
    pad = np.full(18, max(t.arm_width, t.leg_width) * 1.2 + t.torso_pad)
    ear = {"cat": 0.8, "bunny": 1.9}.get(t.ears, 0.1) * t.head[1]
    pad[[0, 14, 15, 16, 17]] = max(t.head) * 1.3 + ear + t.eye + t.ear
    pad[[10, 13]] = t.leg_width * 2.0
    if t.body in ("round", "teapot"):
        extra = 0.12 if t.body == "teapot" else 0.0
        pad[[1, 8, 11]] = max(pad[1], max(t.round_body) + extra + 0.02)
    if t.tail == "cat":
        pad[[8, 11]] = np.maximum(pad[[8, 11]], 0.38)
    return pad


def draw_character(layer: Layer, body: np.ndarray, character: Character, scale: float, time: float) -> None:
    """Draw one character posed at `body` (18, 2) pixels; `scale` is pixels per stature unit."""
    t, c = character.template, character.colors
    s = float(scale)
    body = np.asarray(body, np.float64)
    neck = body[1]
    mid_hip = 0.5 * (body[8] + body[11])
    down = _unit(mid_hip - neck)
    right = np.array([down[1], -down[0]])  # image right when upright
    aw, lw = 0.5 * t.arm_width * s, 0.5 * t.leg_width * s
    skin = c["skin"]
    sleeve = c["shirt"] if t.kind == "human" else skin
    legs = c["pants"] if t.kind == "human" else skin
    shoes = c["shoes"] if t.kind == "human" else _darker(skin, 0.8)

    # 1. Behind the body: the tail (long hair and ears go behind the head in _draw_head).
    if t.tail == "cat":
        wag = 0.5 * np.sin(2 * np.pi * 1.1 * time)
        ang = (-0.4 + wag + np.linspace(0.0, 1.9, 8))[:, None]  # starts sideways, curls upward
        steps = 0.045 * s * (np.cos(ang) * right - np.sin(ang) * down)
        pts = mid_hip + down * lw + np.concatenate([np.zeros((1, 2)), np.cumsum(steps, axis=0)])
        layer.stroke(pts, _darker(skin, 0.85), max(1.5, lw * 0.9), solid=True)

    # 2. Legs and shoes.
    for hip, knee, ankle, side in ((8, 9, 10, -1.0), (11, 12, 13, 1.0)):
        layer.fill(_capsule(body[hip], body[knee], lw * 1.1, lw), legs)
        layer.fill(_capsule(body[knee], body[ankle], lw, lw * 0.85), legs)
        foot = body[ankle] + np.array([side * lw * 0.8, lw * 0.35])
        big = 1.4 if t.name == "bunny" else 1.0
        layer.fill(
            _ellipse(foot, lw * 1.5 * big, lw * 0.75, np.array([1.0, 0]), np.array([0, 1.0]), 16), shoes
        )

    # 3. Torso (with its pattern), then object extras.
    if t.body == "human":
        sr, sl, hr, hl = body[2], body[5], body[8], body[11]
        out_r, out_l = _unit(sr - neck), _unit(sl - neck)
        pad = t.torso_pad * s
        torso = np.array(
            [
                sr + out_r * aw * 0.6 - down * aw * 0.8, neck - down * aw * 0.9, sl + out_l * aw * 0.6 - down * aw * 0.8,
                sl + out_l * aw * 0.9 + down * aw, hl + _unit(hl - mid_hip) * (lw + pad * 0.5), hl + down * lw * 1.1,
                hr + down * lw * 1.1, hr + _unit(hr - mid_hip) * (lw + pad * 0.5), sr + out_r * aw * 0.9 + down * aw,
            ]
        )  # fmt: skip
    else:
        center = 0.5 * (neck + mid_hip)
        torso = _ellipse(center, t.round_body[0] * s, t.round_body[1] * s, right, -down, 32)
    if t.body == "teapot":
        side = center + right * t.round_body[0] * s * 0.85
        spout = np.array([side + down * 0.06 * s, side - down * 0.02 * s,
                          side + right * 0.14 * s - down * 0.14 * s, side + right * 0.15 * s - down * 0.10 * s])  # fmt: skip
        layer.fill(spout, c["shirt"])
        handle = _ellipse(center - right * t.round_body[0] * s, 0.08 * s, 0.08 * s, right, -down, 12,
                          0.5 * np.pi, 1.5 * np.pi)  # fmt: skip
        layer.stroke(handle, _darker(c["shirt"], 0.8), 0.03 * s, solid=True)
    layer.fill(torso, c["shirt"])
    _pattern(layer, torso, neck, down, right, character, s)
    if t.body == "round":
        stalk = neck - down * (t.round_body[1] * s * 0.5)
        layer.fill(_ellipse(stalk + right * 0.05 * s - down * 0.1 * s, 0.06 * s, 0.025 * s, _unit(right - down),
                            _unit(right + down), 12), c["accent"])  # fmt: skip

    # 4. Arms in front of the torso.
    for sh, el, wr in ((2, 3, 4), (5, 6, 7)):
        layer.fill(_capsule(body[sh], body[el], aw * 1.05, aw), sleeve)
        layer.fill(_capsule(body[el], body[wr], aw, aw * 0.9), skin)
        layer.fill(_ellipse(body[wr], aw * 1.25, aw * 1.25, np.array([1.0, 0]), np.array([0, 1.0]), 12), skin)

    # 5. Head.
    _draw_head(layer, body, character, s)


def _pattern(layer: Layer, torso: np.ndarray, neck, down, right, character: Character, s: float) -> None:
    """Stripes or dots fixed in the torso's frame, so they move with the body."""
    accent = character.colors["accent"]
    if character.pattern == "stripes":
        v = torso @ down
        step = 0.07 * s
        for k in range(int(np.ceil((v.max() - v.min()) / step))):
            band = _clip(
                _clip(torso, down, v.min() + k * step + 0.5 * step), -down, -(v.min() + (k + 1) * step)
            )
            if len(band) >= 3:
                layer.fill(band, accent, solid=False)
    elif character.pattern == "dots":
        r = 0.018 * s
        contour = np.round(torso * _ONE).astype(np.int32).reshape(-1, 1, 2)
        for i in range(-3, 4):
            for j in range(0, 8):
                p = neck + right * (i * 0.06 + 0.03 * (j % 2)) * s + down * (0.04 + j * 0.055) * s
                inside = cv2.pointPolygonTest(contour, (float(p[0] * _ONE), float(p[1] * _ONE)), True)
                if inside >= 1.5 * r * _ONE:
                    pts = _ellipse(p, r, r, right, down, 10)
                    layer.fill(pts, accent, solid=False)


def _draw_head(layer: Layer, body: np.ndarray, character: Character, s: float) -> None:
    t, c = character.template, character.colors
    neck, nose = body[1], body[0]
    up = _unit(nose - neck)
    right = np.array([-up[1], up[0]])
    hx, hy = t.head[0] * s, t.head[1] * s
    center = nose + up * 0.05 * hy
    skin = c["skin"]
    layer.fill(_capsule(neck, neck + (nose - neck) * 0.6, 0.35 * hx, 0.35 * hx), skin)
    if t.name == "woman":
        hair = np.array([center + right * hx * 1.15 + up * hy * 0.6, center - right * hx * 1.15 + up * hy * 0.6,
                         center - right * hx * 1.2 - up * hy * 1.7, center + right * hx * 1.2 - up * hy * 1.7])  # fmt: skip
        layer.fill(hair, c["hair"])
    if t.ears == "human":
        for ear in (body[16], body[17]):
            layer.fill(_ellipse(ear, 0.22 * hx, 0.3 * hy, right, up, 10), _darker(skin, 0.9))
    for side in (-1.0, 1.0):
        if t.ears == "cat":
            base = [
                center + np.cos(a) * hx * right + np.sin(a) * hy * up
                for a in (np.pi / 2 - side * 0.25, np.pi / 2 - side * 0.95)
            ]
            apex = center + right * side * hx * 0.95 + up * hy * 1.65
            layer.fill(np.array([base[0], apex, base[1]]), skin)
            inner = [0.6 * p + 0.4 * apex for p in base]
            layer.fill(np.array([inner[0] * 0.8 + base[0] * 0.2, apex * 0.85 + center * 0.15, inner[1]]),
                       (240, 160, 170), solid=False)  # fmt: skip
        elif t.ears == "bunny":
            ear_c = center + right * side * hx * 0.45 + up * hy * 1.7
            ax_u = _unit(up + right * side * 0.2)
            ax_r = np.array([-ax_u[1], ax_u[0]])
            layer.fill(_ellipse(ear_c, 0.3 * hx, 1.0 * hy, ax_r, ax_u, 16), skin)
            layer.fill(_ellipse(ear_c, 0.15 * hx, 0.75 * hy, ax_r, ax_u, 16), (240, 170, 180), solid=False)
    head_color = c["shirt"] if t.body == "teapot" else skin
    if t.body == "teapot":
        layer.fill(
            _ellipse(center + up * hy * 1.05, 0.22 * hx, 0.22 * hx, right, up, 12), _darker(head_color, 0.8)
        )
    layer.fill(_ellipse(center, hx, hy, right, up, 28), head_color)
    if t.hair and t.name != "woman":
        cap = _ellipse(center, hx * 1.06, hy * 1.08, right, up, 16, 0.45, np.pi - 0.45)
        layer.fill(cap, c["hair"])
    elif t.name == "woman":
        layer.fill(_ellipse(center, hx * 1.06, hy * 1.08, right, up, 16, 0.35, np.pi - 0.35), c["hair"])
    # Face: eyes at the eye keypoints, a smile below the nose.
    er = max(0.5, t.eye_size * hy)
    for eye in (body[14], body[15]):
        if er >= 1.2:
            layer.fill(_ellipse(eye, er, er * 1.15, right, up, 14), (250, 250, 250), solid=False)
        layer.fill(_ellipse(eye, er * 0.6, er * 0.7, right, up, 12), c["eyes"], solid=False)
    mw = 0.3 * hx
    x = np.linspace(-1.0, 1.0, 7)[:, None]
    mouth = nose - up * 0.35 * hy + right * x * mw - up * (0.35 * mw * (1 - x**2))
    layer.stroke(mouth, c["mouth"], max(1.0, 0.06 * hy))
