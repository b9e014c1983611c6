"""Feature networks with random weights: official key layouts, file round trips, forward shapes."""

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from animatex.errors import AnimatexError
from animatex.evaluation.i3d import InceptionI3d
from animatex.evaluation.inception import InceptionV3FID
from animatex.evaluation.lpips import LPIPS
from animatex.evaluation.weights import load_state_dict_file


def _randomise(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random weights that keep activations alive through ~90 layers (He-scaled convs, BN near identity)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            if not tensor.is_floating_point():
                continue
            if tensor.ndim >= 4:  # convolutions
                fan_in = tensor[0].numel()
                tensor.copy_(torch.randn(tensor.shape, generator=generator) * (2.0 / fan_in) ** 0.5)
            elif name.endswith(("running_var", "bn.weight")):
                tensor.copy_(torch.rand(tensor.shape, generator=generator) + 0.5)
            else:  # biases, running means, linear layers
                tensor.copy_(torch.rand(tensor.shape, generator=generator) * 0.2 - 0.1)
    return module


def _without_counters(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    # Files saved by old torch versions (pytorch-fid, pytorch-i3d) have no num_batches_tracked.
    return {k: v for k, v in module.state_dict().items() if not k.endswith("num_batches_tracked")}


def test_inception_layout_and_round_trip(tmp_path):
    model = _randomise(InceptionV3FID())
    state = _without_counters(model)
    # The published pt_inception-2015-12-05 layout (torchvision Inception3 names, 1008 classes, no aux head).
    assert state["Conv2d_1a_3x3.conv.weight"].shape == (32, 3, 3, 3)
    assert state["Conv2d_4a_3x3.bn.running_var"].shape == (192,)
    assert state["Mixed_5b.branch5x5_2.conv.weight"].shape == (64, 48, 5, 5)
    assert state["Mixed_6e.branch7x7dbl_5.conv.weight"].shape == (192, 192, 1, 7)
    assert state["Mixed_7a.branch7x7x3_4.conv.weight"].shape == (192, 192, 3, 3)
    assert state["Mixed_7c.branch3x3dbl_3a.conv.weight"].shape == (384, 384, 1, 3)
    assert state["fc.weight"].shape == (1008, 2048)
    assert not any(k.startswith("AuxLogits") for k in state)
    assert len(state) == 94 * 5 + 2  # 94 conv+BN units and the classifier

    path = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(state, path)
    loaded = InceptionV3FID.from_file(path)
    images = torch.rand(2, 3, 40, 56)
    features = loaded(images)
    assert features.shape == (2, 2048)
    for key, value in state.items():
        torch.testing.assert_close(loaded.state_dict()[key], value, rtol=0, atol=0)
    assert (features[0] - features[1]).abs().mean() > 1e-2 * features.abs().mean()  # inputs matter
    # Resizing happens inside: a 299 px input gives the same features as the bilinear resize of itself.
    big = torch.nn.functional.interpolate(images, size=(299, 299), mode="bilinear", align_corners=False)
    torch.testing.assert_close(loaded(big), features, rtol=1e-4, atol=1e-5)


def test_i3d_layout_and_round_trip(tmp_path):
    model = _randomise(InceptionI3d())
    state = _without_counters(model)
    # The pytorch-i3d InceptionI3d layout (Kinetics-400 logits).
    assert state["Conv3d_1a_7x7.conv3d.weight"].shape == (64, 3, 7, 7, 7)
    assert state["Conv3d_2c_3x3.conv3d.weight"].shape == (192, 64, 3, 3, 3)
    assert state["Mixed_3b.b1b.conv3d.weight"].shape == (128, 96, 3, 3, 3)
    assert state["Mixed_4f.b3b.bn.running_mean"].shape == (128,)
    assert state["Mixed_5c.b0.conv3d.weight"].shape == (384, 832, 1, 1, 1)
    assert state["logits.conv3d.weight"].shape == (400, 1024, 1, 1, 1)
    assert state["logits.conv3d.bias"].shape == (400,)
    assert "Conv3d_1a_7x7.conv3d.bias" not in state

    path = tmp_path / "i3d.safetensors"
    save_file(state, str(path))
    loaded = InceptionI3d.from_file(path)
    clips = torch.rand(2, 3, 16, 224, 224) * 2 - 1
    clips[1] = clips[1] * 0.1
    logits = loaded(clips)
    assert logits.shape == (2, 400)
    for key, value in state.items():
        torch.testing.assert_close(loaded.state_dict()[key], value, rtol=0, atol=0)
    assert (logits[0] - logits[1]).abs().mean() > 1e-2 * logits.abs().mean()  # inputs matter
    assert loaded.features(clips[:1]).shape == (1, 1024)
    with pytest.raises(ValueError, match="224 px"):
        loaded(torch.rand(1, 3, 16, 112, 112))


def test_lpips_layout_from_two_files(tmp_path):
    model = _randomise(LPIPS("alex"))
    with torch.no_grad():
        for k in range(5):  # LPIPS heads are non-negative after training
            getattr(model, f"lin{k}").model[1].weight.abs_()
    state = model.state_dict()
    backbone = {k: v for k, v in state.items() if k.startswith("features.")}
    heads = {k: v for k, v in state.items() if k.startswith("lin")}
    # torchvision alexnet and LPIPS v0.1 alex.pth names.
    assert backbone["features.0.weight"].shape == (64, 3, 11, 11)
    assert backbone["features.10.weight"].shape == (256, 256, 3, 3)
    assert sorted(heads) == [f"lin{k}.model.1.weight" for k in range(5)]
    assert heads["lin1.model.1.weight"].shape == (1, 192, 1, 1)
    # The torchvision file also carries the classifier, which LPIPS ignores.
    backbone["classifier.1.weight"] = torch.zeros(4096, 9216)
    torch.save(backbone, tmp_path / "alexnet-owt-7be5be79.pth")
    torch.save(heads, tmp_path / "alex.pth")

    loaded = LPIPS.from_files(tmp_path / "alexnet-owt-7be5be79.pth", tmp_path / "alex.pth")
    a, b = torch.rand(2, 3, 64, 64) * 2 - 1, torch.rand(2, 3, 64, 64) * 2 - 1
    distance = loaded(a, b)
    assert distance.shape == (2,)
    assert (distance > 0).all()
    torch.testing.assert_close(distance, loaded(b, a))
    torch.testing.assert_close(loaded(a, a), torch.zeros(2))
    torch.testing.assert_close(distance, model(a, b))


def test_lpips_vgg_layout():
    state = LPIPS("vgg").state_dict()
    assert state["features.28.weight"].shape == (512, 512, 3, 3)
    assert state["lin4.model.1.weight"].shape == (1, 512, 1, 1)
    with pytest.raises(ValueError, match="LPIPS net"):
        LPIPS("squeeze")


def test_mismatched_file_is_rejected_with_key_names(tmp_path):
    state = _without_counters(InceptionV3FID())
    state.pop("Mixed_7c.branch_pool.conv.weight")
    state["extra.weight"] = torch.zeros(1)
    state["fc.weight"] = torch.zeros(1000, 2048)
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(
        AnimatexError, match=r"missing: Mixed_7c\.branch_pool\.conv\.weight.*unexpected: extra"
    ):
        InceptionV3FID.from_file(tmp_path / "bad.pth")
    with pytest.raises(AnimatexError, match="wrong shape: fc.weight"):
        InceptionV3FID.from_file(tmp_path / "bad.pth")


def test_state_dict_file_reading(tmp_path):
    torch.save({"state_dict": {"module.a": torch.ones(2)}}, tmp_path / "wrapped.pt")
    assert list(load_state_dict_file(tmp_path / "wrapped.pt")) == ["a"]
    with pytest.raises(AnimatexError, match="not found"):
        load_state_dict_file(tmp_path / "missing.pt")
    # weights_only=True refuses arbitrary pickled objects.
    torch.save({"a": np.dtype("float32")}, tmp_path / "pickle.pt")
    with pytest.raises(AnimatexError):
        load_state_dict_file(tmp_path / "pickle.pt")
