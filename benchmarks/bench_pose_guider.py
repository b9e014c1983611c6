"""The pose guider's training step (forward + backward): channels-last convs (ours) vs plain `nn.Conv3d`.

The pose guider runs full-resolution 3D convs over every pixel frame, which makes it the most expensive part
of a demo training step on CPU (more than the whole 2.2M-parameter DiT). `ChannelsLastConv3d` computes the same
convs in channels-last layout. Both variants hold the same weights; the script checks their outputs agree, then
times them side by side in fp32 and under bf16 autocast (the demo recipe's precision).

Usage:
    python benchmarks/bench_pose_guider.py [--batch 8 --frames 17 --size 64 --factor 4 --repeats 5 --threads 2]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from animatex.models.transformer_animatex import ChannelsLastConv3d, PoseGuider


def plain_copy(guider: PoseGuider) -> PoseGuider:
    """The same guider with every `ChannelsLastConv3d` swapped for a plain `nn.Conv3d` holding the same weights."""
    twin = PoseGuider(guider.convs[-1].out_channels, guider.convs[0].out_channels)
    twin.convs = nn.Sequential(*[
        _plain(layer) if isinstance(layer, ChannelsLastConv3d) else layer for layer in guider.convs
    ])  # fmt: skip
    return twin


def _plain(layer: ChannelsLastConv3d) -> nn.Conv3d:
    conv = nn.Conv3d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, layer.padding)
    conv.load_state_dict(layer.state_dict())
    return conv


def seconds_per_step(guider: PoseGuider, video: torch.Tensor, bf16: bool, repeats: int) -> float:
    times = []
    for _ in range(repeats + 1):  # the first call warms oneDNN up
        guider.zero_grad(set_to_none=True)
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = guider(video)
        out.float().square().mean().backward()
        times.append(time.perf_counter() - start)
    return sorted(times[1:])[len(times[1:]) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--frames", type=int, default=17)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--factor", type=int, default=4, choices=(4, 8), help="VAE spatial factor")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    ours = PoseGuider(128, 16, (1, 2, 2), args.factor)
    plain = plain_copy(ours)
    video = torch.rand(args.batch, 3, args.frames, args.size, args.size)
    with torch.no_grad():
        gap = (ours(video[:1]) - plain(video[:1])).abs().max().item()
    print(f"pose guider, batch {args.batch} x {args.frames} x {args.size}^2, {args.factor}x VAE grid, "
          f"{args.threads} threads; max |ours - plain| = {gap:.2e}")  # fmt: skip
    print("| precision | plain Conv3d (s) | channels-last (s) | speed-up |")
    print("|---|---|---|---|")
    for bf16 in (False, True):
        reference = seconds_per_step(plain, video, bf16, args.repeats)
        mine = seconds_per_step(ours, video, bf16, args.repeats)
        name = "bf16 autocast" if bf16 else "fp32"
        print(f"| {name} | {reference:.3f} | {mine:.3f} | {reference / mine:.2f}x |")


if __name__ == "__main__":
    main()
