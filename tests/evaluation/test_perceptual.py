import numpy as np
import pytest
import torch

from animatex.evaluation import perceptual
from animatex.evaluation.i3d import InceptionI3d
from animatex.evaluation.inception import InceptionV3FID
from animatex.evaluation.lpips import LPIPS


def _videos(seed: int, count: int, frames: int = 3, size: int = 24) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (frames, size, size, 3), dtype=np.uint8) for _ in range(count)]


def _well_scaled(module: torch.nn.Module) -> torch.nn.Module:
    """He-initialised convolutions: torch's default init shrinks activations to ~1e-8 after 90 layers."""
    for layer in module.modules():
        if isinstance(layer, (torch.nn.Conv2d, torch.nn.Conv3d)):
            torch.nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
    return module


def test_without_networks_everything_is_skipped():
    videos = _videos(0, 2)
    assert perceptual.lpips_video(None, videos[0], videos[1]) is None
    assert perceptual.fid(None, videos, videos) is None
    assert perceptual.fid_vid(None, videos, videos) is None
    assert perceptual.fvd(None, videos, videos) is None
    notices = perceptual.FeatureNetworks().notices()
    assert len(notices) == 4
    assert any(n.startswith("FVD skipped: pass --i3d-weights PATH") for n in notices)
    assert perceptual.DistributionMetrics(perceptual.FeatureNetworks()).compute() == {
        "fid": None,
        "fid_vid": None,
        "fvd": None,
    }


def test_lpips_video_is_zero_for_identical_and_mean_over_frames():
    torch.manual_seed(0)
    net = LPIPS("alex")
    result, target = _videos(1, 2, frames=2, size=48)
    assert perceptual.lpips_video(net, target, target) == pytest.approx(0.0, abs=1e-6)
    both = perceptual.lpips_video(net, result, target)
    first = perceptual.lpips_video(net, result[:1], target[:1])
    second = perceptual.lpips_video(net, result[1:], target[1:])
    assert both == pytest.approx((first + second) / 2, rel=1e-5)


def test_fid_and_fid_vid_with_random_inception():
    torch.manual_seed(0)
    net = _well_scaled(InceptionV3FID())
    results, targets = _videos(2, 2, frames=2), _videos(3, 2, frames=2)
    same = perceptual.DistributionMetrics(perceptual.FeatureNetworks(inception=net))
    for target in targets:
        same.add(target, target)
    values = same.compute()
    assert values["fid"] == pytest.approx(0.0, abs=1e-3)
    assert values["fid_vid"] == pytest.approx(0.0, abs=1e-3)
    assert values["fvd"] is None
    assert perceptual.fid(net, results, targets) > 1e-3
    # FID-VID uses one feature per video: a single video pair is not enough for a covariance.
    with pytest.raises(ValueError, match="N >= 2"):
        perceptual.fid_vid(net, results[:1], targets[:1])


def test_video_clips_layout():
    video = _videos(4, 1, frames=20, size=32)[0]
    clips = perceptual.video_clips(video, clip_length=16, size=224)
    assert clips.shape == (1, 3, 16, 224, 224)  # the 4-frame tail is dropped
    assert clips.min() >= -1 and clips.max() <= 1
    short = perceptual.video_clips(video[:5], clip_length=16, size=224)
    assert short.shape == (1, 3, 16, 224, 224)
    torch.testing.assert_close(short[0, :, 5:], short[0, :, 4:5].expand(-1, 11, -1, -1))


def test_fvd_accumulates_per_video_features():
    torch.manual_seed(0)
    networks = perceptual.FeatureNetworks(i3d=_well_scaled(InceptionI3d()))
    accumulator = perceptual.DistributionMetrics(networks)
    results, targets = _videos(5, 2, frames=4, size=16), _videos(6, 2, frames=4, size=16)
    for result, target in zip(results, targets, strict=True):
        accumulator.add(result, target)
    values = accumulator.compute()
    assert values["fid"] is None and values["fvd"] > 1e-3
    assert [n.split(":")[0] for n in networks.notices()] == [
        "LPIPS skipped",
        "FID skipped",
        "FID-VID skipped",
    ]
