"""A tiny stand-in for the Wan2.1-I2V-14B download, shared by the end-to-end conversion tests."""

import json

import pytest
import torch
from safetensors.torch import save_file

from animatex.convert import original_layouts as layouts
from animatex.pipelines.tiny import minilm_tokenizer_path


def _random(module, seed):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for tensor in module.state_dict().values():
            tensor.copy_(torch.randn(tensor.shape, generator=generator) * 0.2)
    return module.state_dict()


@pytest.fixture(scope="module")
def original_release(tmp_path_factory):
    """A tiny stand-in for the Wan2.1-I2V-14B download: 2 DiT shards, VAE, umT5, CLIP .pth files, tokenizer."""
    root = tmp_path_factory.mktemp("wan_original")
    dit = _random(
        layouts.WanModelOriginal(dim=24, ffn_dim=32, text_dim=32, image_dim=4, num_heads=2, num_layers=2), 1
    )
    keys = sorted(dit)
    save_file(
        {k: dit[k] for k in keys[: len(keys) // 2]},
        str(root / "diffusion_pytorch_model-00001-of-00002.safetensors"),
    )
    save_file(
        {k: dit[k] for k in keys[len(keys) // 2 :]},
        str(root / "diffusion_pytorch_model-00002-of-00002.safetensors"),
    )
    (root / "config.json").write_text(json.dumps({"num_heads": 2, "eps": 1e-6}))
    torch.save(
        _random(layouts.WanVAEOriginal(dim=4, z_dim=16, dim_mult=(1, 1, 1, 1), num_res_blocks=1), 2),
        root / "Wan2.1_VAE.pth",
    )
    t5 = layouts.UMT5EncoderOriginal(
        vocab=30522, dim=32, dim_attn=128, dim_ffn=24, num_heads=64, num_layers=1, num_buckets=8
    )
    torch.save(_random(t5, 3), root / "models_t5_umt5-xxl-enc-bf16.pth")
    clip = layouts.XLMRobertaCLIPOriginal(
        {
            "image_size": 28,
            "patch_size": 7,
            "dim": 32,
            "mlp_ratio": 2,
            "out_dim": 4,
            "num_heads": 16,
            "num_layers": 2,
        },
        {"vocab": 20, "max_len": 8, "dim": 8, "out_dim": 4, "num_heads": 2, "num_layers": 1},
    )
    torch.save(_random(clip, 4), root / "models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth")
    from transformers import BertTokenizer

    BertTokenizer.from_pretrained(minilm_tokenizer_path()).save_pretrained(root / "google" / "umt5-xxl")
    return root, dit
