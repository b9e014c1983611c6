import json

import numpy as np
import pytest

from animatex.data.captions import mirror_caption, stated_side, subject_of
from animatex.data.dataset import ClipDataset
from animatex.data.generate import generate
from animatex.evaluation.background import (
    DIRECTION_PROMPTS,
    DYNAMIC_PROMPTS,
    STATIC_PROMPTS,
    bg_drift,
    run_prompt_checks,
    summarize,
)


def _scrolling(shift: int, frames: int = 8, size: int = 48) -> np.ndarray:
    """A random texture translated by `shift` pixels per frame (positive: rightward)."""
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 256, (size, size * 3), dtype=np.uint8)
    texture = np.repeat(np.repeat(texture[:, ::4], 4, axis=1)[::4], 4, axis=0)[:size]  # 4 px blocks
    video = [texture[:, size + (-shift * t) : 2 * size + (-shift * t)] for t in range(frames)]
    return np.stack([np.stack([v] * 3, axis=-1) for v in video]).astype(np.uint8)


@pytest.mark.parametrize("shift", [-2, -1, 1, 2])
def test_drift_has_the_sign_and_size_of_the_motion(shift):
    video = _scrolling(shift)
    drift = bg_drift(video, np.zeros(video.shape[:3], bool))
    assert np.sign(drift) == np.sign(shift)
    assert abs(drift) == pytest.approx(abs(shift), rel=0.35)


def test_drift_ignores_the_masked_character_and_still_backgrounds():
    video = _scrolling(2)
    mask = np.zeros(video.shape[:3], bool)
    mask[:, :, :24] = True  # a "character" covers the left half, moving the other way
    video[:, :, :24] = _scrolling(-2)[:, :, :24]
    assert bg_drift(video, mask) > 1.0
    still = np.repeat(video[:1], 8, axis=0)
    assert bg_drift(still, np.zeros(still.shape[:3], bool)) == 0.0


def test_drift_refuses_a_mask_of_another_shape():
    video = _scrolling(1)
    with pytest.raises(ValueError, match="mask shape"):
        bg_drift(video, np.zeros((2, 4, 4), bool))


def test_subject_keeps_who_and_how():
    caption = (
        "an orange teapot character is walking in place, snowflakes drift down quickly to the left behind it."
    )
    assert subject_of(caption) == "an orange teapot character is walking in place"


def _case(static, dynamic, left, right):
    motion = {"static": static, **dict.fromkeys(DYNAMIC_PROMPTS, dynamic)}
    return {"name": "c", "motion": motion, "drift": {"left": left, "right": right}}


def test_summary_counts_directions_and_motion_ratio():
    cases = [_case(0.01, 0.05, -1.0, 1.0), _case(0.01, 0.03, 0.5, 1.0)]
    summary = summarize(cases)
    assert summary["motion_ratio"] == pytest.approx(4.0)
    assert summary["motion_ratio_ok"]
    assert summary["direction_accuracy"] == pytest.approx(0.75)
    assert not summary["direction_ok"]
    assert summary["scene_cases"] == 0 and summary["scene_direction_accuracy"] is None


def test_summary_scores_scene_direction_against_what_each_caption_says():
    # A model that drifts right whatever it is told is right half the time; the ground truth and the VAE are
    # scored once per case, against the side the case's own caption states.
    cases = [_case(0.01, 0.05, -1.0, 1.0) for _ in range(3)]
    cases[0]["scene"] = {"stated": "left", "left": 0.4, "right": 0.5, "truth": -0.8, "vae": -0.6}
    cases[1]["scene"] = {"stated": "right", "left": 0.3, "right": 0.2, "truth": 0.7, "vae": 0.0}
    summary = summarize(cases)
    assert summary["scene_cases"] == 2
    assert summary["scene_direction_accuracy"] == pytest.approx(0.5) and not summary["scene_direction_ok"]
    assert summary["scene_truth_accuracy"] == 1.0
    assert summary["scene_vae_accuracy"] == pytest.approx(0.5)  # no drift at all is not the stated way
    assert summary["scene_drift_size"] == pytest.approx(0.35) and summary["scene_truth_size"] == pytest.approx(0.75)


def test_prompt_checks_run_every_prompt_and_write_a_report(tmp_path):
    root = tmp_path / "data"
    generate(root, "anthro", 2, 0, subset="test", size=32, num_frames=5, overwrite=True)
    seen = []

    def fake_model(clip, pose, prompt):
        # Stands in for a model: a background drifting the way the prompt says, still when told so.
        seen.append(prompt)
        shift = -1 if "left" in prompt else 1
        moving = _scrolling(shift, frames=len(pose), size=32)
        return np.repeat(moving[:1], len(pose), axis=0) if "does not move" in prompt else moving

    dataset = ClipDataset(root)
    summary = run_prompt_checks(
        dataset, fake_model, tmp_path / "out", progress=False, reconstruct=lambda clip, pose: clip.ground_truth
    )
    prompts = {**STATIC_PROMPTS, **DYNAMIC_PROMPTS, **DIRECTION_PROMPTS}
    sided = [dataset[i].caption for i in range(2) if stated_side(dataset[i].caption)]
    assert len(sided) == 1  # this seed: one clip's background drifts sideways, the other's does not
    # Every prompt for both cases, and the drifting case's own caption told left and told right.
    assert len(seen) == 2 * len(prompts) + 2
    assert all(p.endswith(".") and "," in p for p in seen)
    assert sided[0] in seen and mirror_caption(sided[0]) in seen
    assert summary["scene_cases"] == 1 and summary["scene_direction_accuracy"] == 1.0
    # The rendered ground truth moves the way its caption says, and an exact "VAE" keeps it.
    assert summary["scene_truth_accuracy"] == 1.0 and summary["scene_vae_accuracy"] == 1.0
    assert summary["direction_accuracy"] == 1.0 and summary["direction_ok"]
    assert summary["motion_ratio"] is None and summary["bg_motion_static"] == 0  # a still background
    assert summary["motion_ratio_ok"]
    report = json.loads((tmp_path / "out" / "prompts.json").read_text())
    assert len(report["cases"]) == 2
    markdown = (tmp_path / "out" / "prompts.md").read_text()
    assert "Background prompts (2 cases)" in markdown and "Scene direction (1 cases" in markdown
