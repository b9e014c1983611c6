"""Pretrain a small `AutoencoderKLWan` on A2Bench-Synth frames, the first stage of the demo model.

The demo DiT diffuses in the latent space of this VAE, so it is trained first and then frozen. Each step
reconstructs either a batch of single frames (the causal Wan encoder codes a clip's first frame alone) or a
batch of video chunks (1 + 4k frames, by default whole clips: the temporal path and its causal cache), with L1 + a small KL + an L1 on
image gradients (our choice: it keeps the thin limbs of the synthetic characters sharp). After training, the
per-channel mean/std of the encoder's latents on training clips go into `latents_mean` / `latents_std`, which
the pipeline uses to normalise latents, so the diffusion model sees roughly unit-variance inputs.

    python -m animatex.training.vae --config configs/demo-vae/stage1.yaml --output runs/demo-vae-stage1

The settings are a `VAEConfig` (animatex.training.config), read like the DiT trainer's: YAML, `--set key=value`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from diffusers import AutoencoderKLWan
from tqdm.auto import tqdm

from animatex.data.dataset import ClipDataset
from animatex.errors import AnimatexError
from animatex.evaluation.metrics import psnr_star
from animatex.io import read_video, resize_frames
from animatex.pipelines.presets import build_demo_vae, load_vae
from animatex.training.arguments import add_config_arguments
from animatex.training.checkpoint import prepare_run_folder
from animatex.training.config import VAEConfig, load_config, parse_overrides

# ---- data ------------------------------------------------------------------------------------------------------


def _clip_videos(folder: Path, size: int) -> list[np.ndarray]:
    """The ground-truth video (target.mp4, else driving.mp4) of one clip folder, plus driving.mp4 if distinct."""
    names = ["target.mp4", "driving.mp4"] if (folder / "target.mp4").is_file() else ["driving.mp4"]
    # Only the videos are read: `load_clip` also parses poses, masks and the background (4x slower).
    return [resize_frames(read_video(folder / name)[0], size, size) for name in names]


def load_videos(
    root: str | Path, size: int, subset: str | None = None, limit: int | None = None
) -> np.ndarray:
    """Every clip's ground-truth and driving videos as one uint8 array (N, F, size, size, 3)."""
    dataset = ClipDataset(root, subset=subset)
    if len(dataset) == 0:
        raise AnimatexError(f"no clips of subset {subset!r} under {root}")
    count = len(dataset) if limit is None else min(limit, len(dataset))
    with ThreadPoolExecutor(max_workers=4) as pool:  # decoding runs in ffmpeg subprocesses
        per_clip = list(pool.map(lambda i: _clip_videos(dataset.folder(i), size), range(count)))
    videos = [video for pair in per_clip for video in pair]
    shortest = min(len(v) for v in videos)
    # Chunks are drawn from one stacked array; trim to the shortest clip instead of padding.
    return np.stack([v[:shortest] for v in videos])


def _to_pixels(frames: np.ndarray) -> torch.Tensor:
    """(B, T, H, W, 3) uint8 -> (B, 3, T, H, W) float in [-1, 1]."""
    return torch.from_numpy(frames).permute(0, 4, 1, 2, 3).float() / 127.5 - 1.0


def sample_batch(
    videos: np.ndarray, rng: np.random.Generator, batch: int, frames: int, crop: int | None = None
) -> torch.Tensor:
    """`batch` random windows of `frames` consecutive frames (and, with `crop`, crop x crop pixels), randomly
    mirrored: (batch, 3, frames, crop or H, crop or W)."""
    num_videos, num_frames, height, width = videos.shape[:4]
    if frames > num_frames:
        raise AnimatexError(f"chunks of {frames} frames need clips at least that long, got {num_frames}")
    crop_h, crop_w = (height, width) if crop is None else (crop, crop)
    if crop_h > height or crop_w > width:
        raise AnimatexError(f"crop {crop} is larger than the {width}x{height} frames")
    picks = rng.integers(0, num_videos, size=batch)
    starts = rng.integers(0, num_frames - frames + 1, size=batch)
    tops = rng.integers(0, height - crop_h + 1, size=batch)
    lefts = rng.integers(0, width - crop_w + 1, size=batch)
    windows = np.stack(
        [
            videos[v, s : s + frames, y : y + crop_h, x : x + crop_w]
            for v, s, y, x in zip(picks, starts, tops, lefts, strict=True)
        ]
    )
    flips = rng.random(batch) < 0.5
    windows[flips] = windows[flips, :, :, ::-1]
    return _to_pixels(np.ascontiguousarray(windows))


# ---- loss and statistics ---------------------------------------------------------------------------------------


def _gradient_l1(reconstruction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 between the horizontal and vertical finite differences of two (B, C, T, H, W) videos."""
    loss = 0.0
    for dim in (-1, -2):
        loss = loss + (reconstruction.diff(dim=dim) - target.diff(dim=dim)).abs().mean()
    return loss


def vae_loss(
    vae: AutoencoderKLWan,
    pixels: torch.Tensor,
    kl_weight: float,
    grad_weight: float,
    generator: torch.Generator,
    posterior_mode: bool = False,
    temporal_weight: float = 0.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Reconstruction loss of one batch (B, 3, T, H, W) in [-1, 1], decoding a posterior sample (or its mode)."""
    posterior = vae.encode(pixels).latent_dist
    latents = posterior.mode() if posterior_mode else posterior.sample(generator=generator)
    reconstruction = vae.decode(latents).sample
    l1 = (reconstruction - pixels).abs().mean()
    kl = posterior.kl().mean() / pixels[0].numel()  # per pixel, so the weight does not depend on the size
    grad = _gradient_l1(reconstruction, pixels) if grad_weight > 0 else torch.zeros(())
    temporal = torch.zeros(())
    if temporal_weight > 0 and pixels.shape[2] > 1:
        temporal = (reconstruction.diff(dim=2) - pixels.diff(dim=2)).abs().mean()
    loss = l1 + kl_weight * kl + grad_weight * grad + temporal_weight * temporal
    return loss, {"l1": l1.item(), "kl": kl.item(), "grad": grad.item(), "temporal": temporal.item()}


@torch.no_grad()
def reconstruct(vae: AutoencoderKLWan, video: np.ndarray) -> np.ndarray:
    """Encode (posterior mode) and decode one (F, H, W, 3) uint8 video; returns float [0, 1] frames."""
    pixels = _to_pixels(video[None]).to(vae.device, vae.dtype)
    latents = vae.encode(pixels).latent_dist.mode()
    decoded = vae.decode(latents).sample.float().clamp(-1, 1)
    return ((decoded[0].permute(1, 2, 3, 0) + 1) / 2).cpu().numpy()


def reconstruction_psnr(vae: AutoencoderKLWan, videos: np.ndarray) -> float:
    """Mean PSNR* (dB) of whole-video reconstructions of (N, F, H, W, 3) uint8 videos."""
    was_training = vae.training
    vae.eval()
    scores = [psnr_star(reconstruct(vae, video), video.astype(np.float64) / 255.0) for video in videos]
    vae.train(was_training)
    return float(np.mean(scores))


@torch.no_grad()
def latent_statistics(vae: AutoencoderKLWan, videos: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of the encoder's latents (posterior mode) over (N, F, H, W, 3) videos."""
    latents = [
        vae.encode(_to_pixels(video[None]).to(vae.device, vae.dtype)).latent_dist.mode() for video in videos
    ]
    flat = torch.cat([z.float().transpose(0, 1).flatten(1) for z in latents], dim=1)  # (z, N * T * h * w)
    return flat.mean(dim=1).tolist(), flat.std(dim=1).clamp_min(1e-6).tolist()


def set_latent_statistics(vae: AutoencoderKLWan, videos: np.ndarray) -> None:
    """Write the measured per-channel latent mean/std into the VAE config (Wan normalises with them)."""
    mean, std = latent_statistics(vae, videos)
    vae.register_to_config(latents_mean=[round(v, 6) for v in mean], latents_std=[round(v, 6) for v in std])


# ---- saving ----------------------------------------------------------------------------------------------------


def save_atomic(vae: AutoencoderKLWan, folder: str | Path) -> Path:
    """`save_pretrained` into a sibling temp folder, then swap it in: a reader never sees a half-written VAE."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f".{folder.name}.tmp")
    old = folder.with_name(f".{folder.name}.old")
    for stale in (tmp, old):
        if stale.exists():
            shutil.rmtree(stale)
    vae.save_pretrained(tmp, safe_serialization=True)
    if folder.exists():
        folder.rename(old)
    tmp.rename(folder)
    if old.exists():
        shutil.rmtree(old)
    return folder


# ---- training --------------------------------------------------------------------------------------------------


@dataclass
class VAETrainResult:
    vae: AutoencoderKLWan
    losses: list[float]
    steps: int
    seconds: float
    psnr: float | None
    folder: Path


def _learning_rate(config: VAEConfig, step: int) -> float:
    """Linear warmup, then cosine decay to a tenth of the peak (the demo VAE's schedule; diffusers'
    `get_scheduler("cosine")` decays to zero)."""
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.steps - config.warmup)
    return config.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def train_vae(
    config: VAEConfig,
    output: str | Path,
    vae: AutoencoderKLWan | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> VAETrainResult:
    """Train (a fresh demo VAE, or `vae`), set its latent statistics, save it to `output/vae`; see the module doc."""
    out = Path(output)
    prepare_run_folder(out, resume=False, overwrite=overwrite)
    videos = load_videos(config.data, config.size, subset="train")
    chunk_frames = config.chunk_frames or (videos.shape[1] - 1) // 4 * 4 + 1
    rng = np.random.default_rng(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    if vae is None:
        vae = load_vae(config.init) if config.init else build_demo_vae(config.seed)
    vae.train()
    optimizer = torch.optim.AdamW(vae.parameters(), lr=config.lr, weight_decay=0.01)

    losses: list[float] = []
    start = time.time()
    bar = tqdm(range(config.steps), desc="vae", disable=not progress)
    step = 0
    for step in bar:
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(config, step)
        if config.video_every > 0 and step % config.video_every == config.video_every - 1:
            pixels = sample_batch(videos, rng, config.video_batch, chunk_frames, config.crop)
        else:
            pixels = sample_batch(videos, rng, config.image_batch, 1, config.crop)
        loss, parts = vae_loss(
            vae,
            pixels,
            config.kl_weight,
            config.grad_weight,
            generator,
            config.posterior == "mode",
            config.temporal_weight,
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{loss.item():.4f}", l1=f"{parts['l1']:.4f}")
        if config.time_limit is not None and time.time() - start > config.time_limit:
            break
    seconds = time.time() - start
    vae.eval()

    stats_videos = videos[rng.permutation(len(videos))[: config.stats_clips]]
    set_latent_statistics(vae, stats_videos)
    psnr = None
    if config.eval_clips > 0:
        held_out = (
            load_videos(config.eval_data, config.size, limit=config.eval_clips)
            if config.eval_data
            else _test_videos(config.data, config.size, config.eval_clips)
        )
        psnr = reconstruction_psnr(vae, held_out) if held_out is not None else None
    folder = save_atomic(vae, out / "vae")
    metrics = {
        "config": config.to_dict(),
        "steps": step + 1,
        "seconds": round(seconds, 1),
        "final_loss": float(np.mean(losses[-50:])),
        "heldout_psnr": psnr,
        "parameters": sum(p.numel() for p in vae.parameters()),
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return VAETrainResult(vae, losses, step + 1, seconds, psnr, folder)


def _test_videos(root: str | Path, size: int, limit: int) -> np.ndarray | None:
    """Up to `limit` held-out (test subset) videos of the training root, or None when it has none."""
    if not ClipDataset(root, subset="test").records:
        return None
    return load_videos(root, size, subset="test", limit=limit)


# ---- command line ----------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m animatex.training.vae", description=__doc__.split("\n")[0]
    )
    add_config_arguments(parser, "configs/demo-vae/stage1.yaml")
    parser.add_argument(
        "--output", required=True, help="run folder: gets vae/ (save_pretrained) and metrics.json"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = parse_args(argv)
    try:
        config = load_config(args.config, parse_overrides(args.set), schema=VAEConfig)
        torch.manual_seed(config.seed)
        result = train_vae(config, args.output, overwrite=args.overwrite)
    except AnimatexError as error:
        raise SystemExit(f"error: {error}") from None
    psnr = "n/a (no held-out clips)" if result.psnr is None else f"{result.psnr:.2f} dB"
    print(
        f"trained {result.steps} steps in {result.seconds:.0f} s; held-out PSNR {psnr}; saved {result.folder}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
