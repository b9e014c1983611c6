"""Pretrain a small `AutoencoderKLWan` on A2Bench-Synth frames, the first stage of the demo model.

The demo DiT diffuses in the latent space of this VAE, so it is trained first and then frozen. Each step
reconstructs either a batch of single frames (the causal Wan encoder codes a clip's first frame alone) or a
batch of video chunks (1 + 4k frames, by default whole clips: the temporal path and its causal cache), with L1 + a small KL + an L1 on
image gradients (our choice: it keeps the thin limbs of the synthetic characters sharp). After training, the
per-channel mean/std of the encoder's latents on training clips go into `latents_mean` / `latents_std`, which
the pipeline uses to normalise latents, so the diffusion model sees roughly unit-variance inputs.

    python -m animatex.training.vae --data data/synth-demo --out runs/demo-vae --steps 2000 --size 64
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from diffusers import AutoencoderKLWan
from tqdm.auto import tqdm

from animatex.data.dataset import ClipDataset
from animatex.errors import AnimatexError
from animatex.evaluation.metrics import psnr_star
from animatex.io import read_video
from animatex.pipelines.presets import build_demo_vae, load_vae


@dataclass
class VAETrainArgs:
    data: str
    out: str
    steps: int = 2000
    size: int = 64
    seed: int = 0
    lr: float = 1e-3
    warmup: int = 50
    image_batch: int = 8  # single frames per image step
    video_batch: int = 2  # chunks per video step
    # 1 + 4k frames: one causal first frame plus k 4-frame groups; None = the whole training clip. The small
    # VAE decodes well only as many chunks as it trained on (its causal cache drifts after that): trained on
    # 5-frame chunks it gave frames 6-17 of a 17-frame clip at ~11 dB, on 9-frame chunks frames 10-17 at 16-19
    # dB (frames 1-9 at 27 dB), on 17-frame chunks all 17 frames at 27 dB. Train on the length you decode.
    chunk_frames: int | None = None
    # Train on random crop x crop windows (a multiple of 8; None: whole frames). The VAE is convolutional, so
    # crops teach the same local code at a fraction of the cost per sample: a 32 px crop is 4x cheaper.
    crop: int | None = None
    video_every: int = 2  # every n-th step is a video step, the others image steps
    kl_weight: float = 1e-6
    grad_weight: float = 0.5
    # L1 between frame-to-frame differences of video batches: per-pixel L1 lets a small VAE blur fast particles
    # (snow, rain, sparks) into a still average and flicker static backdrops; this term penalises both.
    temporal_weight: float = 0.0
    # "mode" decodes the posterior mean: a plain autoencoder, which learns far faster than decoding samples
    # whose initial std of 1 drowns the small latents; the pipeline and trainer only ever use the mode.
    posterior: str = "sample"
    eval_clips: int = 16
    eval_data: str | None = None  # held-out dataset root; default: the test subset of --data
    time_limit: float | None = None  # seconds; stop early (and still save) once exceeded
    stats_clips: int = 64
    init: str | None = (
        None  # a pretrained AutoencoderKLWan folder to continue from (default: a fresh demo VAE)
    )


# ---- data ------------------------------------------------------------------------------------------------------


def _resize(video: np.ndarray, size: int) -> np.ndarray:
    """(F, H, W, 3) uint8 -> (F, size, size, 3) uint8 (area filter when shrinking)."""
    if video.shape[1:3] == (size, size):
        return video
    interp = cv2.INTER_AREA if video.shape[1] > size else cv2.INTER_LINEAR
    return np.stack([cv2.resize(frame, (size, size), interpolation=interp) for frame in video])


def _clip_videos(folder: Path, size: int) -> list[np.ndarray]:
    """The ground-truth video (target.mp4, else driving.mp4) of one clip folder, plus driving.mp4 if distinct."""
    names = ["target.mp4", "driving.mp4"] if (folder / "target.mp4").is_file() else ["driving.mp4"]
    # Only the videos are read: `load_clip` also parses poses, masks and the background (4x slower).
    return [_resize(read_video(folder / name)[0], size) for name in names]


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


def _learning_rate(args: VAETrainArgs, step: int) -> float:
    """Linear warmup, then cosine decay to a tenth of the peak."""
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    progress = (step - args.warmup) / max(1, args.steps - args.warmup)
    return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def train_vae(
    args: VAETrainArgs, vae: AutoencoderKLWan | None = None, progress: bool = True
) -> VAETrainResult:
    """Train (a fresh demo VAE, or `vae`), set its latent statistics, save it to `out/vae`; see the module doc."""
    if args.size % 8:
        raise AnimatexError(f"--size must be a multiple of 8 (the VAE's spatial factor), got {args.size}")
    if args.crop is not None and (args.crop % 8 or not 8 <= args.crop <= args.size):
        raise AnimatexError(
            f"--crop must be a multiple of 8 between 8 and --size {args.size}, got {args.crop}"
        )
    if args.chunk_frames is not None and (args.chunk_frames < 1 or (args.chunk_frames - 1) % 4):
        raise AnimatexError(f"--chunk-frames must be 4k+1 for the Wan VAE, got {args.chunk_frames}")
    out = Path(args.out)
    videos = load_videos(args.data, args.size, subset="train")
    chunk_frames = args.chunk_frames or (videos.shape[1] - 1) // 4 * 4 + 1
    rng = np.random.default_rng(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    if vae is None:
        vae = load_vae(args.init) if args.init else build_demo_vae(args.seed)
    vae.train()
    optimizer = torch.optim.AdamW(vae.parameters(), lr=args.lr, weight_decay=0.01)

    losses: list[float] = []
    start = time.time()
    bar = tqdm(range(args.steps), desc="vae", disable=not progress)
    step = 0
    for step in bar:
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(args, step)
        if args.video_every > 0 and step % args.video_every == args.video_every - 1:
            pixels = sample_batch(videos, rng, args.video_batch, chunk_frames, args.crop)
        else:
            pixels = sample_batch(videos, rng, args.image_batch, 1, args.crop)
        loss, parts = vae_loss(
            vae,
            pixels,
            args.kl_weight,
            args.grad_weight,
            generator,
            args.posterior == "mode",
            args.temporal_weight,
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{loss.item():.4f}", l1=f"{parts['l1']:.4f}")
        if args.time_limit is not None and time.time() - start > args.time_limit:
            break
    seconds = time.time() - start
    vae.eval()

    stats_videos = videos[rng.permutation(len(videos))[: args.stats_clips]]
    set_latent_statistics(vae, stats_videos)
    psnr = None
    if args.eval_clips > 0:
        held_out = (
            load_videos(args.eval_data, args.size, limit=args.eval_clips)
            if args.eval_data
            else _test_videos(args.data, args.size, args.eval_clips)
        )
        psnr = reconstruction_psnr(vae, held_out) if held_out is not None else None
    folder = save_atomic(vae, out / "vae")
    metrics = {
        "args": asdict(args),
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


def parse_args(argv: list[str] | None = None) -> VAETrainArgs:
    defaults = VAETrainArgs(data="", out="")
    parser = argparse.ArgumentParser(
        prog="python -m animatex.training.vae", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--data", required=True, help="dataset root (index.jsonl); trains on its train subset"
    )
    parser.add_argument(
        "--out", required=True, help="run folder: gets vae/ (save_pretrained) and metrics.json"
    )
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument(
        "--size", type=int, default=defaults.size, help="frame width = height (multiple of 8)"
    )
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--image-batch", type=int, default=defaults.image_batch)
    parser.add_argument("--video-batch", type=int, default=defaults.video_batch)
    parser.add_argument(
        "--chunk-frames",
        type=int,
        default=defaults.chunk_frames,
        help="frames per video chunk, 4k+1 (default: the whole clip; the VAE decodes well only that many)",
    )
    parser.add_argument(
        "--crop", type=int, default=None, help="train on random CROP x CROP windows (multiple of 8)"
    )
    parser.add_argument("--kl-weight", type=float, default=defaults.kl_weight)
    parser.add_argument("--grad-weight", type=float, default=defaults.grad_weight)
    parser.add_argument("--temporal-weight", type=float, default=defaults.temporal_weight,
                        help="weight of the L1 between frame differences (video steps; default 0)")  # fmt: skip
    parser.add_argument(
        "--posterior",
        choices=("sample", "mode"),
        default=defaults.posterior,
        help="what the decoder trains on",
    )
    parser.add_argument(
        "--eval-data", default=None, help="held-out dataset root (default: --data's test subset)"
    )
    parser.add_argument("--eval-clips", type=int, default=defaults.eval_clips)
    parser.add_argument("--init", default=None, help="continue from this pretrained VAE folder")
    parser.add_argument("--time-limit", type=float, default=None, help="stop after this many seconds")
    parsed = parser.parse_args(argv)
    return VAETrainArgs(**{k.replace("-", "_"): v for k, v in vars(parsed).items()})


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    result = train_vae(args)
    psnr = "n/a (no held-out clips)" if result.psnr is None else f"{result.psnr:.2f} dB"
    print(
        f"trained {result.steps} steps in {result.seconds:.0f} s; held-out PSNR {psnr}; saved {result.folder}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
