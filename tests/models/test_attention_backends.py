"""Attention backends (issue #21): the text-padding mask with backends that take no mask, and the checks that
refuse a backend this machine cannot run."""

import pytest
import torch
from test_transformer_animatex import _inputs, _wake_pose_indicator

from animatex.models.presets import build_transformer
from animatex.pipelines.speed import (
    CPU_ATTENTION_BACKENDS,
    SpeedOptionError,
    check_attention_backend,
    parse_attention_backend,
)


@pytest.fixture
def model():
    torch.manual_seed(0)
    model = build_transformer("tiny", mask_text_padding=True).eval()
    _wake_pose_indicator(model)
    yield model
    model.set_attention_backend("native")  # diffusers also sets the process-wide active backend


def _prompts_of_lengths(lengths, dim=32, total=12, seed=2):
    """Text embeddings (B, total, dim), row b zero past its first lengths[b] tokens (the pipeline's padding)."""
    g = torch.Generator().manual_seed(seed)
    text = torch.randn(len(lengths), total, dim, generator=g)
    for row, length in enumerate(lengths):
        text[row, length:] = 0
    return text


@pytest.mark.parametrize("backend", [b for b in CPU_ATTENTION_BACKENDS if b != "native"])
@pytest.mark.parametrize("lengths", [(3, 7, 3), (5,), (4, 4)])
def test_every_cpu_backend_gives_the_native_result(model, backend, lengths):
    """_native_flash refused the text-padding mask ("attn_mask is not supported"); rows of one prompt length now
    attend together without it, which must equal the masked native attention."""
    base, pose = _inputs(batch=len(lengths))
    inputs = {**base, **pose, "encoder_hidden_states": _prompts_of_lengths(lengths)}
    with torch.no_grad():
        native = model(**inputs, return_dict=False)[0]
        model.set_attention_backend(backend)
        other = model(**inputs, return_dict=False)[0]
    torch.testing.assert_close(other, native, atol=1e-5, rtol=1e-5)


def test_a_prompt_with_inner_zero_rows_keeps_its_own_tokens(model):
    """The mask marks every all-zero row, not only a tail: the per-length path gathers each row's own tokens."""
    base, pose = _inputs(batch=2)
    text = _prompts_of_lengths((6, 6))
    text[0, 2] = 0
    inputs = {**base, **pose, "encoder_hidden_states": text}
    with torch.no_grad():
        native = model(**inputs, return_dict=False)[0]
        model.set_attention_backend("_native_flash")
        flash = model(**inputs, return_dict=False)[0]
    torch.testing.assert_close(flash, native, atol=1e-5, rtol=1e-5)


def test_unknown_backend_lists_the_choices():
    with pytest.raises(
        SpeedOptionError, match="unknown attention backend 'fast'; choose one of .*_native_flash"
    ):
        parse_attention_backend("fast")
    assert parse_attention_backend(" Native ") == "native"


@pytest.mark.parametrize("backend", ["flash", "sage", "_native_cudnn", "_native_efficient", "xformers"])
def test_gpu_backends_are_refused_on_the_cpu(backend):
    with pytest.raises(SpeedOptionError, match=f"attention backend {backend} does not run on the CPU"):
        check_attention_backend(backend, "cpu")


def test_a_backend_without_its_package_is_refused():
    try:
        import flash_attn  # noqa: F401
    except ImportError:
        with pytest.raises(SpeedOptionError, match="flash-attn"):
            check_attention_backend("flash", "cuda")
    else:
        pytest.skip("flash-attn is installed")


def test_cpu_backends_pass_the_check():
    for backend in CPU_ATTENTION_BACKENDS:
        assert check_attention_backend(backend, "cpu") == backend
    assert check_attention_backend(None, "cpu") is None
