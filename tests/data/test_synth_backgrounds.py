"""Backgrounds move as their captions say: checked on the rendered pixels, not just the parameters."""

import cv2
import numpy as np
import pytest

from animatex.data.backgrounds import (
    DYNAMIC_FAMILIES,
    STATIC_FAMILIES,
    BackgroundSpec,
    render_background,
    sample_background,
)
from animatex.data.captions import background_phrases, mirror_caption, stated_side, with_side
from animatex.errors import AnimatexError

SIZE, FRAMES, FPS = 64, 7, 16.0
OPPOSITE = {"left": "right", "right": "left", "up": "down", "down": "up"}


def _specs(family, count=6, seed=0):
    rng = np.random.default_rng(seed)
    return [sample_background(rng, family) for _ in range(count)]


def _gray(frame):
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float64)


def _phase_shift(frames):
    """Median frame-to-frame (dx, dy) by phase correlation."""
    shifts = [cv2.phaseCorrelate(_gray(a), _gray(b))[0] for a, b in zip(frames[:-1], frames[1:], strict=True)]
    return np.median(np.array(shifts), axis=0)


def _best_direction(frames, pixels, candidates):
    """Which direction, moved by `pixels` per frame, best predicts each next frame."""
    errors = {}
    for d in candidates:
        dx = {"left": -pixels, "right": pixels}.get(d, 0.0)
        dy = {"up": -pixels, "down": pixels}.get(d, 0.0)
        m = np.float32([[1, 0, dx], [0, 1, dy]])
        err = 0.0
        for a, b in zip(frames[:-1], frames[1:], strict=True):
            moved = cv2.warpAffine(_gray(a), m, (SIZE, SIZE), flags=cv2.INTER_LINEAR)
            err += np.abs(moved - _gray(b))[8:-8, 8:-8].mean()
        errors[d] = err
    return min(errors, key=errors.get)


def _px_per_frame(spec, size=SIZE):
    return spec.params["speed_value"] * size / FPS


def test_static_backgrounds_do_not_move():
    for family in STATIC_FAMILIES:
        for spec in _specs(family, 2):
            frames = render_background(spec, FRAMES, SIZE, SIZE, FPS)
            assert frames.shape == (FRAMES, SIZE, SIZE, 3) and frames.dtype == np.uint8
            assert (frames == frames[:1]).all()


@pytest.mark.parametrize("family", ["clouds", "scrolling", "waves"])
def test_mirrored_captions_state_the_mirrored_direction(family):
    # Training's horizontal flip (data.horizontal_flip) mirrors the frames and swaps left/right in the caption.
    for spec in _specs(family, 8):
        mirrored = render_background(spec, FRAMES, SIZE, SIZE, FPS)[:, :, ::-1]
        moves = _best_direction(mirrored, _px_per_frame(spec), ("left", "right", "up", "down"))
        for phrase in background_phrases(spec, "her"):
            flipped = mirror_caption(phrase)
            if spec.params["direction"] in ("left", "right"):
                assert moves in flipped and OPPOSITE[moves] not in flipped, (phrase, flipped)
            else:
                assert flipped == phrase
            assert mirror_caption(flipped) == phrase


def test_mirror_caption_swaps_only_whole_side_words():
    caption = "a fox is waving, clouds float leftward, drifting to the right; rightly bright lefts."
    assert mirror_caption(caption) == "a fox is waving, clouds float rightward, drifting to the left; rightly bright lefts."


def test_a_caption_told_a_side_says_that_side_and_nothing_else_changes():
    caption = "a fox is waving, white clouds float slowly leftward across the blue sky."
    assert stated_side(caption) == "left" and with_side(caption, "left") == caption
    told = with_side(caption, "right")
    assert stated_side(told) == "right" and told.replace("rightward", "leftward") == caption
    assert stated_side("a fox is waving, the background does not move.") is None
    with pytest.raises(ValueError, match="names no side"):
        with_side("a fox is waving, lights are flickering quickly behind it.", "left")
    with pytest.raises(ValueError, match="'left' or 'right'"):
        with_side(caption, "up")


@pytest.mark.parametrize("family", ["clouds", "scrolling"])
def test_translating_backgrounds_move_in_the_stated_direction(family):
    for spec in _specs(family, 8):
        frames = render_background(spec, FRAMES, SIZE, SIZE, FPS)
        stated = spec.params["direction"]
        assert _best_direction(frames, _px_per_frame(spec), ("left", "right", "up", "down")) == stated
        for phrase in background_phrases(spec, "her"):
            assert stated in phrase and OPPOSITE[stated] not in phrase


def test_waves_travel_in_the_stated_direction():
    for spec in _specs("waves", 6):
        frames = render_background(spec, FRAMES, SIZE, SIZE, FPS)
        stated = spec.params["direction"]
        assert _best_direction(frames, _px_per_frame(spec), ("left", "right")) == stated
        for phrase in background_phrases(spec, "him"):
            assert stated in phrase and OPPOSITE[stated] not in phrase
            assert spec.params["height"] in phrase


@pytest.mark.parametrize("family", ["snow", "rain"])
def test_precipitation_falls_and_drifts_with_the_wind(family):
    for spec in _specs(family, 8, seed=1):
        dx, dy = _phase_shift(render_background(spec, FRAMES, SIZE, SIZE, FPS))
        assert dy > 0.3 * _px_per_frame(spec)
        wind = spec.params["wind"]
        if wind != "none":
            assert np.sign(dx) == (1 if wind == "right" else -1)
        for phrase in background_phrases(spec, "it"):
            if wind == "none":
                assert "left" not in phrase and "right" not in phrase
            else:
                assert OPPOSITE[wind] not in phrase
        # Every paraphrase that names a side names the right one; at least one names it.
        assert wind == "none" or any(wind in p for p in background_phrases(spec, "it"))
        assert any(spec.params["density"] in p for p in background_phrases(spec, "it"))


def test_sparks_rise():
    for spec in _specs("fire", 4):
        frames = render_background(spec, FRAMES, SIZE, SIZE, FPS)[:, : SIZE // 2]  # above the flames
        dx, dy = _phase_shift(frames)
        assert dy < -0.3 * _px_per_frame(spec)
        assert all("rise" in p or "up" in p for p in background_phrases(spec, "her"))


def test_fast_is_faster_than_slow():
    measured = {}
    for speed in ("slow", "fast"):
        spec = BackgroundSpec("snow", {"speed": speed, "speed_value": 0.15 if speed == "slow" else 0.6,
                                       "wind": "none", "density": "heavy"}, seed=3)  # fmt: skip
        measured[speed] = _phase_shift(render_background(spec, FRAMES, SIZE, SIZE, FPS))[1]
        slow_words, fast_words = ("slowly", "gently"), ("quickly", "fast")
        words = slow_words if speed == "slow" else fast_words
        others = fast_words if speed == "slow" else slow_words
        for phrase in background_phrases(spec, "her"):
            assert any(w in phrase.split() for w in words) and not any(w in phrase.split() for w in others)
    assert measured["fast"] > 2.5 * measured["slow"] > 0


def test_lights_flicker_faster_when_fast():
    change = {}
    for speed, rate in (("slow", 1.0), ("fast", 5.0)):
        spec = BackgroundSpec("lights", {"speed": speed, "rate_hz": rate}, seed=5)
        frames = render_background(spec, 9, SIZE, SIZE, FPS).astype(np.float64)
        change[speed] = np.abs(np.diff(frames, axis=0)).mean()
        assert np.abs(_phase_shift(frames.astype(np.uint8))).max() < 0.5  # they blink, they do not travel
    assert change["fast"] > 2 * change["slow"] > 0


def test_every_family_renders_and_is_reproducible():
    for family in STATIC_FAMILIES + DYNAMIC_FAMILIES:
        spec = _specs(family, 1, seed=7)[0]
        again = BackgroundSpec.from_dict(spec.to_dict())
        a = render_background(spec, 3, 48, 32, FPS)
        assert a.shape == (3, 48, 32, 3)
        np.testing.assert_array_equal(a, render_background(again, 3, 48, 32, FPS))
        assert (family in DYNAMIC_FAMILIES) == bool((a != a[:1]).any())


def test_bad_family_is_refused():
    with pytest.raises(AnimatexError, match="unknown background family"):
        sample_background(np.random.default_rng(0), "lava")
