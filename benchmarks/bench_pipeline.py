"""`AnimateXPipeline` vs diffusers' `WanImageToVideoPipeline`, side by side in one process.

Both pipelines share the VAE, image encoder and scheduler config, and their DiTs share the Wan weights
(ours adds the pose guider, reference-pose encoder and Implicit Pose Indicator on top). Both get the same
precomputed text embeddings (diffusers' Wan text path needs ftfy, which is not installed here), the same
reference picture and the same noise. Ours additionally gets a rendered pose video, the reference pose, the
driving video and keypoints, so the ratio is the full cost of the pose branches: CLIP features of every
driving frame, the pose guider on every step (both CFG branches), the ref-pose encoder and the IPI.

Printed: median wall time of each over `--repeats` alternating runs and their ratio; one transformer forward
with all pose inputs vs without (the per-step cost, without VAE and encoders); and the pose modules alone
(`encode_pose_conditions`), which the pipeline runs once per call where a per-step design would run them at
every step of every guidance branch.

Run: .venv/bin/python benchmarks/bench_pipeline.py [--frames 17] [--size 64] [--steps 4] [--repeats 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import PIL.Image  # noqa: E402
import torch  # noqa: E402
from diffusers import (  # noqa: E402
    AutoencoderKLWan,
    FlowMatchEulerDiscreteScheduler,
    WanImageToVideoPipeline,
    WanTransformer3DModel,  # noqa: E402
)
from transformers import CLIPImageProcessorPil, CLIPVisionConfig, CLIPVisionModelWithProjection  # noqa: E402

from animatex.models.presets import build_transformer  # noqa: E402
from animatex.models.transformer_animatex import TEXT_SEQUENCE_LENGTH  # noqa: E402
from animatex.pipelines import AnimateXPipeline  # noqa: E402

TEXT_DIM = 32
CLIP_SIZE = 64


def build_components(heads: int, head_dim: int, layers: int, seed: int = 0) -> dict:
    """A shared VAE / image encoder / scheduler and two DiTs with identical Wan weights."""
    torch.manual_seed(seed)
    transformer = build_transformer(
        "small",
        num_attention_heads=heads,
        attention_head_dim=head_dim,
        num_layers=layers,
        ffn_dim=4 * heads * head_dim,
        added_kv_proj_dim=heads * head_dim,
        text_dim=TEXT_DIM,
        image_dim=64,
        motion_embed_dim=64,
    ).eval()
    wan_config = {
        k: v
        for k, v in transformer.config.items()
        if k in WanTransformer3DModel._get_init_keys(WanTransformer3DModel)
    }
    wan_transformer = WanTransformer3DModel(**wan_config).eval()
    missing, unexpected = wan_transformer.load_state_dict(transformer.state_dict(), strict=False)
    assert not missing, missing  # every Wan weight is shared; `unexpected` are our pose modules
    vae = AutoencoderKLWan(
        base_dim=32,
        z_dim=16,
        dim_mult=[1, 2, 4, 4],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
    ).eval()
    image_encoder = CLIPVisionModelWithProjection(
        CLIPVisionConfig(
            hidden_size=64, projection_dim=64, num_hidden_layers=4, num_attention_heads=4, intermediate_size=256,
            image_size=CLIP_SIZE, patch_size=8,
        )
    ).eval()  # fmt: skip
    processor = CLIPImageProcessorPil(
        size={"shortest_edge": CLIP_SIZE}, crop_size={"height": CLIP_SIZE, "width": CLIP_SIZE}
    )
    return {
        "transformer": transformer,
        "wan_transformer": wan_transformer,
        "vae": vae,
        "image_encoder": image_encoder,
        "image_processor": processor,
    }


def median_time(fn, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=17)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--heads", type=int, default=2)
    parser.add_argument("--head-dim", type=int, default=128)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--guidance-scale", type=float, default=3.0)
    # One thread by default: the development machines' 2 cores are shared, and one thread per process keeps
    # the side-by-side ratio stable under that load.
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    c = build_components(args.heads, args.head_dim, args.layers)
    ours = AnimateXPipeline(
        tokenizer=None, text_encoder=None, vae=c["vae"], scheduler=FlowMatchEulerDiscreteScheduler(shift=5.0),
        transformer=c["transformer"], image_processor=c["image_processor"], image_encoder=c["image_encoder"],
    )  # fmt: skip
    wan = WanImageToVideoPipeline(
        tokenizer=None, text_encoder=None, vae=c["vae"], scheduler=FlowMatchEulerDiscreteScheduler(shift=5.0),
        transformer=c["wan_transformer"], image_processor=c["image_processor"], image_encoder=c["image_encoder"],
    )  # fmt: skip
    for pipe in (ours, wan):
        pipe.set_progress_bar_config(disable=True)

    rng = np.random.default_rng(0)
    size, frames = args.size, args.frames
    image = PIL.Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
    pose_video = rng.integers(0, 256, (frames, size, size, 3), dtype=np.uint8)
    driving_video = rng.integers(0, 256, (frames, size, size, 3), dtype=np.uint8)
    keypoints = rng.uniform(0, 1, (frames, 18, 2)).astype(np.float32)
    prompt_embeds = torch.randn(1, TEXT_SEQUENCE_LENGTH, TEXT_DIM)
    negative_embeds = torch.randn(1, TEXT_SEQUENCE_LENGTH, TEXT_DIM)
    common = {
        "image": image, "prompt_embeds": prompt_embeds, "negative_prompt_embeds": negative_embeds, "height": size,
        "width": size, "num_frames": frames, "num_inference_steps": args.steps, "guidance_scale": args.guidance_scale,
        "output_type": "np",
    }  # fmt: skip

    def run_ours():
        ours(
            **common, pose_video=pose_video, ref_pose=pose_video[0], driving_video=driving_video,
            pose_keypoints=keypoints, generator=torch.Generator().manual_seed(0),
        )  # fmt: skip

    def run_wan():
        wan(**common, generator=torch.Generator().manual_seed(0))

    # Same shapes for one transformer forward, with and without the pose inputs.
    latent_frames, latent_size = (frames - 1) // 4 + 1, size // 8
    hidden_states = torch.randn(1, 36, latent_frames, latent_size, latent_size)
    timestep = torch.tensor([500.0])
    image_embeds = torch.randn(1, (CLIP_SIZE // 8) ** 2 + 1, 64)
    pose_inputs = {
        "pose_video": torch.rand(1, 3, frames, size, size),
        "ref_pose": torch.rand(1, 3, size, size),
        "motion_embeds": torch.randn(1, frames, 64),
        "pose_keypoints": torch.rand(1, frames, 18, 2),
    }

    def forward_ours():
        c["transformer"](
            hidden_states, timestep, prompt_embeds, image_embeds, **pose_inputs, return_dict=False
        )

    def forward_wan():
        c["wan_transformer"](hidden_states, timestep, prompt_embeds, image_embeds, return_dict=False)

    def encode_pose():
        c["transformer"].encode_pose_conditions(**pose_inputs)

    with torch.no_grad():
        for fn in (run_ours, run_wan, forward_ours, forward_wan, encode_pose):  # warm-up
            fn()
        pipeline_times = {"ours": [], "wan": []}
        forward_times = {"ours": [], "wan": []}
        pose_times = []
        for _ in range(args.repeats):  # alternate, so that load from other processes hits both alike
            pipeline_times["ours"] += median_time(run_ours, 1)
            pose_times += median_time(encode_pose, 1)
            pipeline_times["wan"] += median_time(run_wan, 1)
            forward_times["ours"] += median_time(forward_ours, 3)
            forward_times["wan"] += median_time(forward_wan, 3)

    tokens = latent_frames * (latent_size // 2) ** 2
    print(
        f"DiT {args.heads}x{args.head_dim}, {args.layers} layers; {frames} frames at {size}x{size} "
        f"({tokens} tokens); {args.steps} steps, guidance {args.guidance_scale}; torch threads "
        f"{torch.get_num_threads()}; {args.repeats} repeats, median"
    )
    rows = [("pipeline call", pipeline_times), ("transformer forward", forward_times)]
    for label, times in rows:
        ours_s, wan_s = statistics.median(times["ours"]), statistics.median(times["wan"])
        print(
            f"{label:20s} AnimateXPipeline {ours_s * 1000:8.1f} ms | WanImageToVideoPipeline "
            f"{wan_s * 1000:8.1f} ms | ratio {ours_s / wan_s:.3f} (+{(ours_s / wan_s - 1) * 100:.1f}%)"
        )
    branches = 2 if args.guidance_scale > 1 else 1
    pose_s, wan_s = statistics.median(pose_times), statistics.median(pipeline_times["wan"])
    print(
        f"pose modules alone   {pose_s * 1000:8.1f} ms once per call; at every step of every branch they would "
        f"add {pose_s * (args.steps * branches - 1) * 1000:.1f} ms (ratio "
        f"{(statistics.median(pipeline_times['ours']) + pose_s * (args.steps * branches - 1)) / wan_s:.3f})"
    )


if __name__ == "__main__":
    main()
