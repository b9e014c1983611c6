"""`animatex pose extract`: a video (or image, gif, frame folder) -> a PoseSequence .npz (+ a rendering)."""

from __future__ import annotations

import argparse
from pathlib import Path

from animatex.cli.arguments import positive_int


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("pose", help="extract and render poses", description="Pose tools.")
    actions = parser.add_subparsers(dest="pose_command", metavar="ACTION", required=True)
    extract = actions.add_parser(
        "extract",
        help="detect the main person's whole-body pose in every frame",
        description="Detect the main person's 134 whole-body keypoints in every frame and save a pose .npz "
        "(layout in docs/pose.md).",
    )
    extract.add_argument("input", type=Path, help="video (mp4, webm, gif, ...), image, or folder of frames")
    extract.add_argument("-o", "--output", type=Path, required=True, help="pose file to write (.npz)")
    extract.add_argument("--render", type=Path, help="also write the drawn skeleton video (.mp4 or .gif)")
    extract.add_argument(
        "--backend", choices=("mediapipe", "dwpose"), default="mediapipe", help="pose detector"
    )
    extract.add_argument("--dwpose-dir", type=Path, help="folder with the DWPose ONNX files (dwpose backend)")
    extract.add_argument("--max-frames", type=positive_int, help="only the first N frames")
    extract.add_argument("--no-smooth", action="store_true", help="skip One-Euro temporal smoothing")
    extract.add_argument("--no-track", action="store_true", help="pick the most prominent person per frame")
    extract.add_argument("--overwrite", action="store_true", help="replace existing output files")
    extract.set_defaults(func=run_extract)


def run_extract(args: argparse.Namespace) -> int:
    from animatex.errors import AnimatexError
    from animatex.io.atomic import check_writable

    if args.output.suffix != ".npz":
        raise AnimatexError(f"the pose file must end in .npz, got {args.output}")
    if args.render is not None and args.render.suffix.lower() not in (".mp4", ".gif"):
        raise AnimatexError(f"--render writes .mp4 or .gif, got {args.render}")
    for path in (args.output, args.render):
        if path is not None and path.exists() and not args.overwrite:
            raise AnimatexError(f"{path} already exists; pass --overwrite to replace it")
        if path is not None:
            check_writable(path)

    from animatex.io import read_video, write_video
    from animatex.pose.detect import extract_poses

    frames, fps = read_video(args.input, max_frames=args.max_frames)
    seq = extract_poses(
        frames,
        fps,
        backend=args.backend,
        dwpose_dir=args.dwpose_dir,
        track=not args.no_track,
        smooth=not args.no_smooth,
        progress=True,
        name=str(args.input),
    )
    seq.save(args.output)
    found = int(seq.visible()[:, 0:18].any(axis=1).sum())
    print(f"{args.output}: {len(seq)} frames at {seq.fps:g} fps, {seq.width}x{seq.height}, person in {found}")
    if args.render is not None:
        from animatex.pose.draw import draw_pose_video

        write_video(args.render, draw_pose_video(seq), seq.fps)
        print(f"{args.render}: skeleton video")
    return 0
