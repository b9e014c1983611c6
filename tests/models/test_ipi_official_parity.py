"""The Implicit Pose Indicator computes what the official Animate-X++ release computes (issue #18).

Each test pins one fact about the release with small hand-built tensors: the keypoint order into the keypoint
encoder, the frame position encoding added once at its input, the fixed 81-frame temporal Conv1d, and the
release's IPI block range. Saved models from before (the legacy layout) keep computing what they did.
"""

import inspect
import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from diffusers import WanTransformer3DModel

from animatex.models import AnimateXTransformer3DModel, build_transformer
from animatex.models.transformer_animatex import ImplicitPoseIndicator, KeypointEncoder

DIM = 16


def _randomized(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Every parameter random (the zero-initialised outputs too), in eval mode."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * 0.3)
    return module.eval()


def _keypoints(num_frames: int, seed: int = 1) -> torch.Tensor:
    return torch.rand(1, num_frames, 18, 2, generator=torch.Generator().manual_seed(seed))


def _sinusoid_table(num_frames: int, dim: int) -> torch.Tensor:
    """The transformer position table: row p, column 2i = sin(p / 10000^(2i/dim)), 2i+1 = cos of the same."""
    table = torch.zeros(num_frames, dim, dtype=torch.float64)
    for p in range(num_frames):
        for i in range(0, dim, 2):
            angle = p / 10000 ** (i / dim)
            table[p, i], table[p, i + 1] = math.sin(angle), math.cos(angle)
    return table.float()


def _post_norm_layer(layer, hidden_states, query_key_offset=None):
    """One post-norm encoder layer by hand; `query_key_offset` is added to queries and keys only."""
    query_key = hidden_states if query_key_offset is None else hidden_states + query_key_offset
    attn = layer.self_attn(query_key, query_key, hidden_states, need_weights=False)[0]
    hidden_states = layer.norm1(hidden_states + attn)
    return layer.norm2(hidden_states + layer.linear2(F.relu(layer.linear1(hidden_states))))


# 1. Keypoint order ---------------------------------------------------------------------------------------


def test_keypoints_enter_as_all_x_then_all_y():
    """The release flattens each frame's (2, 18) keypoints row by row: x_0..x_17, then y_0..y_17."""
    encoder = _randomized(KeypointEncoder(dim=DIM, num_layers=1, num_heads=2, ffn_dim=32))
    keypoints = torch.zeros(1, 2, 18, 2)
    keypoints[..., 0] = torch.arange(18.0)  # x_k = k
    keypoints[..., 1] = 100 + torch.arange(18.0)  # y_k = 100 + k
    seen = []
    encoder.keypoint_embed[0].register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    with torch.no_grad():
        encoder(keypoints)
    expected = torch.cat([torch.arange(18.0), 100 + torch.arange(18.0)])
    torch.testing.assert_close(seen[0][0, 1], expected, rtol=0, atol=0)


# 2. Frame position encoding --------------------------------------------------------------------------------


def test_frame_encoding_is_added_once_to_the_input():
    """Position table added to the embedded keypoints, then plain self-attention layers (no q/k offset)."""
    encoder = _randomized(KeypointEncoder(dim=DIM, num_layers=2, num_heads=2, ffn_dim=32))
    keypoints = _keypoints(9)
    with torch.no_grad():
        flat = keypoints.transpose(2, 3).reshape(1, 9, 36)
        hidden_states = encoder.keypoint_embed(flat) + _sinusoid_table(9, DIM)
        for layer in encoder.layers:
            hidden_states = _post_norm_layer(layer, hidden_states)
        expected = encoder.proj_out(hidden_states)
        torch.testing.assert_close(encoder(keypoints), expected, rtol=1e-5, atol=1e-5)


def test_legacy_layout_keeps_the_old_computation():
    """Interleaved (x, y) pairs and the table on queries and keys of every layer: what saved models learned."""
    encoder = _randomized(KeypointEncoder(dim=DIM, num_layers=2, num_heads=2, ffn_dim=32, layout="legacy"))
    keypoints = _keypoints(9)
    with torch.no_grad():
        hidden_states = encoder.keypoint_embed(keypoints.reshape(1, 9, 36))
        for layer in encoder.layers:
            hidden_states = _post_norm_layer(layer, hidden_states, _sinusoid_table(9, DIM))
        expected = encoder.proj_out(hidden_states)
        torch.testing.assert_close(encoder(keypoints), expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="keypoint_encoder_layout must be one of"):
        KeypointEncoder(dim=DIM, layout="xy")


def test_configs_saved_without_the_layout_load_as_legacy(tmp_path):
    model = build_transformer("tiny")
    assert model.config.keypoint_encoder_layout == "official"  # new models follow the release
    # The in-memory config marks the field as a default; building from it must keep "official".
    again = AnimateXTransformer3DModel.from_config(model.config)
    assert again.pose_indicator.keypoint_encoder.layout == "official"

    model.save_pretrained(tmp_path / "old")
    config_path = tmp_path / "old" / "config.json"
    config = json.loads(config_path.read_text())
    del config["keypoint_encoder_layout"]  # as written before the field existed
    config_path.write_text(json.dumps(config))
    old = AnimateXTransformer3DModel.from_pretrained(tmp_path / "old")
    assert old.config.keypoint_encoder_layout == "legacy"
    assert old.pose_indicator.keypoint_encoder.layout == "legacy"
    old.save_pretrained(tmp_path / "resaved")  # and the migrated value is written down
    assert (
        json.loads((tmp_path / "resaved" / "config.json").read_text())["keypoint_encoder_layout"] == "legacy"
    )

    # A plain Wan folder has no pose weights: the IPI built for it follows the release.
    wan_fields = inspect.signature(WanTransformer3DModel.__init__).parameters
    wan = WanTransformer3DModel(**{k: v for k, v in model.config.items() if k in wan_fields})
    wan.save_pretrained(tmp_path / "wan")
    from_wan = AnimateXTransformer3DModel.from_pretrained(tmp_path / "wan")
    assert from_wan.config.keypoint_encoder_layout == "official"


# 3. The fixed-length temporal Conv1d -----------------------------------------------------------------------


def _ipi(fixed_frames: int | None = 81) -> ImplicitPoseIndicator:
    return ImplicitPoseIndicator(
        out_dim=24, motion_embed_dim=4, dim=DIM, num_layers=1, num_heads=2, head_dim=8,
        keypoint_encoder_layers=1, keypoint_encoder_heads=2, keypoint_encoder_ffn_dim=32,
        fixed_frames=fixed_frames,
    )  # fmt: skip


def _resampled_and_output(ipi, num_frames):
    """The resampler's per-frame output (B, F, dim) and the IPI output for `num_frames` frames."""
    seen = []
    handle = ipi.resampler.register_forward_hook(lambda module, args, output: seen.append(output))
    motion = torch.randn(2, num_frames, 4, generator=torch.Generator().manual_seed(2))
    keypoints = torch.rand(2, num_frames, 18, 2, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        output = ipi(motion, keypoints)
    handle.remove()
    return seen[0].reshape(2, num_frames, -1), output


def test_81_frames_run_the_release_conv_with_frames_as_channels():
    """The release's Conv1d(81 -> 21, kernel 3, padding 1) reads the 81 frames as channels and slides along
    the feature axis; its output goes to the output projection."""
    ipi = _randomized(_ipi())
    resampled, output = _resampled_and_output(ipi, 81)
    conv = ipi.fixed_length_downsample
    assert tuple(conv.weight.shape) == (21, 81, 3)
    with torch.no_grad():
        expected = ipi.proj_out(F.conv1d(resampled, conv.weight, conv.bias, padding=1))
    assert output.shape == (2, 21, 24)
    torch.testing.assert_close(output, expected, rtol=1e-5, atol=1e-5)
    assert "official 81-frame" in ipi.temporal_compression(81)


def test_other_lengths_keep_the_any_length_compression():
    ipi = _randomized(_ipi())
    resampled, output = _resampled_and_output(ipi, 17)
    conv = ipi.temporal_downsample
    padded = torch.cat([resampled[:, :1]] * 3 + [resampled], dim=1)  # first frame 3 more times: 20 frames
    with torch.no_grad():
        expected = ipi.proj_out(
            F.conv1d(padded.transpose(1, 2), conv.weight, conv.bias, stride=4).transpose(1, 2)
        )
    assert output.shape == (2, 5, 24)
    torch.testing.assert_close(output, expected, rtol=1e-5, atol=1e-5)
    assert "any-length" in ipi.temporal_compression(17)


def test_the_two_compressions_start_equal_at_81_frames():
    """A newly built fixed-length conv starts as the same group means as the any-length one."""
    ipi = _ipi()
    ipi.initialize_weights()
    torch.nn.init.normal_(ipi.proj_out.weight)  # make the (zero-initialised) output visible
    _, with_fixed = _resampled_and_output(ipi, 81)
    ipi.fixed_length_downsample = None
    _, any_length = _resampled_and_output(ipi, 81)
    torch.testing.assert_close(with_fixed, any_length, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(with_fixed[:, 1], with_fixed[:, 2])


def test_fixed_frames_must_be_4k_plus_1():
    with pytest.raises(ValueError, match="4k\\+1"):
        _ipi(fixed_frames=80)


# 4. Which blocks receive the IPI ----------------------------------------------------------------------------


def test_default_ipi_range_is_empty_below_four_blocks():
    model = build_transformer("tiny", num_layers=3, pose_indicator_blocks=None)
    start, end = model.pose_indicator_block_range
    assert start > end  # blocks 2..1: none
    model = build_transformer("tiny", num_layers=4, pose_indicator_blocks=None)
    assert model.pose_indicator_block_range == (2, 2)


def test_the_shipped_demo_model_loads_with_its_legacy_layout():
    demo = Path(__file__).resolve().parents[2] / "weights" / "animatex-demo" / "transformer"
    model = AnimateXTransformer3DModel.from_pretrained(demo)
    assert model.config.keypoint_encoder_layout == "legacy"
    assert model.pose_indicator.fixed_length_downsample is None  # any-length compression only, as trained
