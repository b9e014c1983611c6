"""`compile_transformer` (diffusers' `compile_repeated_blocks`, issue #21): compiled blocks with the IPI hook and a
step cache give the eager output; a CPU without a C++ compiler refuses it in one line."""

import pytest
import torch

from animatex.pipelines.speed import SpeedOptionError, check_compile, compile_transformer, enable_step_cache
from animatex.pipelines.tiny import build_tiny_pipeline


def test_compile_refused_without_a_cpp_compiler(monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(SpeedOptionError, match="needs a C\\+\\+ compiler"):
        check_compile("cpu")


def test_the_transformer_compiles_its_repeated_blocks():
    """The subclass inherits Wan's `_repeated_blocks`, so diffusers finds the blocks to compile."""
    pipe = build_tiny_pipeline(seed=0)
    assert pipe.transformer._repeated_blocks == ["WanTransformerBlock"]


@pytest.mark.slow
def test_compiled_blocks_give_the_eager_output(make_inputs):
    """Pose inputs (the IPI's block hook), the text-padding mask, batched guidance and FBC on compiled blocks."""
    pipe = build_tiny_pipeline(seed=0, mask_text_padding=True)
    pipe.set_progress_bar_config(disable=True)
    inputs = make_inputs()

    def run():
        return pipe(
            **inputs, num_inference_steps=3, guidance_scale=3.0, generator=torch.Generator().manual_seed(0),
            output_type="latent",
        ).frames  # fmt: skip

    eager = run()
    enable_step_cache(pipe, "fbc:0.05", 3)
    eager_cached = run()
    enable_step_cache(pipe, "none", 3)
    compile_transformer(pipe.transformer)
    torch.testing.assert_close(run(), eager, atol=1e-4, rtol=1e-4)
    enable_step_cache(pipe, "fbc:0.05", 3)
    torch.testing.assert_close(run(), eager_cached, atol=1e-4, rtol=1e-4)
