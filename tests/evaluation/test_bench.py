import json
import shutil

import numpy as np
import pytest

from animatex.cli import main
from animatex.data.dataset import ClipDataset
from animatex.data.generate import generate
from animatex.evaluation import metrics
from animatex.evaluation.bench import case_grid, case_metrics, conform, run_bench


@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench") / "data"
    generate(root, "anthro", 3, seed=0, subset="test", size=48, num_frames=9, fps=8.0)
    return root


def test_copy_reference_bench_end_to_end(dataset_root, tmp_path, capsys):
    out = tmp_path / "report"
    code = main(["bench", "--dataset", str(dataset_root), "--baseline", "copy-reference", "--limit", "2",
                 "--out", str(out), "--no-progress"])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "FVD skipped: pass --i3d-weights PATH" in printed
    report = json.loads((out / "results.json").read_text())
    assert report["method"] == "copy-reference" and report["num_cases"] == 2 and report["num_failed"] == 0
    for key in ("psnr_star", "ssim", "l1", "fg_psnr", "fg_ssim", "silhouette_iou", "bg_motion"):
        values = [case["metrics"][key] for case in report["cases"]]
        assert all(v is not None for v in values)
        assert report["mean"][key] == pytest.approx(np.mean(values))
    assert report["mean"]["fvd"] is None
    # A frozen copy of the reference has no background motion at all.
    assert report["mean"]["bg_motion"] == 0.0
    # The numbers are the metrics of the copied reference against the ground truth.
    clip = ClipDataset(dataset_root)[0]
    copied = np.repeat(clip.reference[None], len(clip.target), axis=0)
    assert report["cases"][0]["metrics"]["psnr_star"] == pytest.approx(metrics.psnr_star(copied, clip.target))
    assert (out / "results.md").read_text().count("| anthro_test_s0_0000") == 2
    assert (out / "chart.png").stat().st_size > 0
    assert sorted(p.name for p in (out / "cases").iterdir()) == [
        "anthro_test_s0_00000.png",
        "anthro_test_s0_00001.png",
    ]


def test_a_failing_case_is_reported_and_the_run_goes_on(dataset_root, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(dataset_root, root)
    (root / "clips" / "anthro_test_s0_00001" / "reference.png").unlink()
    logs = []
    results = run_bench(ClipDataset(root), _rigid, tmp_path / "out", method="rigid-warp", align_mode="bones",
                        progress=False, log=logs.append)  # fmt: skip
    assert [c["status"] for c in results.cases] == ["ok", "failed", "ok"]
    assert "reference.png" in results.cases[1]["error"]
    assert any("anthro_test_s0_00001 failed" in line for line in logs)
    report = json.loads((tmp_path / "out" / "results.json").read_text())
    assert report["num_failed"] == 1
    assert "failed" in (tmp_path / "out" / "results.md").read_text()


def _rigid(clip, pose):
    from animatex.evaluation.baselines import rigid_warp

    return rigid_warp(clip.reference, clip.reference_pose, pose)


def test_conform_cuts_frames_and_resizes():
    truth = np.zeros((9, 16, 16, 3), np.uint8)
    result = np.ones((5, 32, 32, 3), np.float32)
    a, b = conform(result, truth)
    assert a.shape == b.shape == (5, 16, 16, 3) and a.dtype == np.uint8 and (a == 255).all()
    with pytest.raises(ValueError, match="generator must return frames"):
        conform(np.zeros((16, 16, 3)), truth)


def test_case_metrics_without_ground_truth_masks(dataset_root):
    clip = ClipDataset(dataset_root)[0]
    clip.masks = None
    values, result, truth = case_metrics(clip.target, clip)
    assert values["psnr_star"] == metrics.MAX_PSNR and values["ssim"] == pytest.approx(1.0)
    assert values["fg_psnr"] is None and values["silhouette_iou"] is None and values["bg_motion"] is None
    grid = case_grid(clip.reference, truth, result)
    assert grid.shape == (4 * 48 + 3 * 2, 3 * 48 + 2 * 2, 3)


def test_model_bench_through_a_saved_tiny_pipeline(tmp_path):
    from animatex.pipelines.tiny import build_tiny_pipeline

    build_tiny_pipeline(seed=0).save_pretrained(tmp_path / "model")
    root = tmp_path / "data"
    generate(root, "human", 1, seed=1, subset="test", size=32, num_frames=5, fps=8.0)
    out = tmp_path / "report"
    code = main(["bench", "--dataset", str(root), "--model", str(tmp_path / "model"), "--steps", "1",
                 "--guidance", "1", "--out", str(out), "--no-progress"])  # fmt: skip
    assert code == 0
    report = json.loads((out / "results.json").read_text())
    assert report["num_failed"] == 0, report["cases"]
    assert report["method"] == "model model"
    assert np.isfinite(report["mean"]["psnr_star"])


def test_background_prompts_through_a_saved_tiny_pipeline(tmp_path, capsys):
    from animatex.pipelines.tiny import build_tiny_pipeline

    build_tiny_pipeline(seed=0).save_pretrained(tmp_path / "model")
    root = tmp_path / "data"
    generate(root, "anthro", 1, seed=0, subset="test", size=32, num_frames=5, fps=8.0)  # waves to the right
    out = tmp_path / "prompts"
    code = main(["bench", "--dataset", str(root), "--model", str(tmp_path / "model"), "--steps", "1",
                 "--guidance", "1", "--text-guidance", "3", "--background-prompts", "--out", str(out),
                 "--no-progress"])  # fmt: skip
    assert code == 0
    report = json.loads((out / "prompts.json").read_text())
    assert len(report["cases"]) == 1
    assert set(report["cases"][0]["motion"]) == {"static", "snow", "rain", "flames", "left", "right"}
    assert set(report["cases"][0]["scene"]) == {"stated", "left", "right", "truth", "vae"}
    printed = capsys.readouterr().out
    assert "direction right in" in printed and "scene direction" in printed and "VAE ceiling" in printed


def test_vae_ceiling_scores_the_plain_vae_round_trip(tmp_path, capsys):
    import torch
    from diffusers import AutoencoderKLWan

    from animatex.pipelines.tiny import build_tiny_pipeline

    build_tiny_pipeline(seed=0).save_pretrained(tmp_path / "model")
    root = tmp_path / "data"
    generate(root, "anthro", 1, seed=1, subset="test", size=32, num_frames=5, fps=8.0)
    out = tmp_path / "ceiling"
    code = main(["bench", "--dataset", str(root), "--model", str(tmp_path / "model"), "--vae-ceiling",
                 "--out", str(out), "--no-progress"])  # fmt: skip
    assert code == 0
    report = json.loads((out / "results.json").read_text())
    assert report["method"] == "VAE reconstruction, model" and report["num_failed"] == 0
    # The same round trip straight through diffusers, without the pipeline's latent normalisation.
    truth = ClipDataset(root)[0].ground_truth
    vae = AutoencoderKLWan.from_pretrained(tmp_path / "model" / "vae")
    pixels = torch.from_numpy(truth).float().div(127.5).sub(1.0).permute(3, 0, 1, 2)[None]
    with torch.no_grad():
        decoded = vae.decode(vae.encode(pixels).latent_dist.mode()).sample[0]
    frames = decoded.clamp(-1, 1).add(1).div(2).permute(1, 2, 3, 0).numpy()
    expected = metrics.psnr_star(frames, truth)
    assert report["cases"][0]["metrics"]["psnr_star"] == pytest.approx(expected, abs=0.05)


def test_vae_ceiling_needs_a_model(dataset_root, tmp_path, capsys):
    code = main(["bench", "--dataset", str(dataset_root), "--baseline", "copy-reference", "--vae-ceiling",
                 "--out", str(tmp_path / "x")])  # fmt: skip
    assert code == 2
    assert "--vae-ceiling needs --model" in capsys.readouterr().err


def test_background_prompts_need_a_model(dataset_root, tmp_path, capsys):
    code = main(["bench", "--dataset", str(dataset_root), "--baseline", "copy-reference",
                 "--background-prompts", "--out", str(tmp_path / "x")])  # fmt: skip
    assert code == 2
    assert "--background-prompts needs --model" in capsys.readouterr().err
