"""`animatex data prepare`: real videos -> the clip format of docs/data.md (poses + caption per clip)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from animatex.cli.arguments import positive_int


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="prepare datasets", description="Dataset tools.")
    actions = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    prepare = actions.add_parser(
        "prepare",
        help="turn a folder of real videos into a dataset (pose extraction + captions)",
        description="Write one clip folder per video (reference.png = first frame, driving.mp4, poses.npz, "
        "reference_pose.npz, caption.txt, meta.json) plus index.jsonl, the format `animatex synth` writes. "
        "Captions come from NAME.txt beside each video, else captions.json in the folder, else --caption.",
    )
    prepare.add_argument("videos_dir", type=Path, help="folder of videos (mp4, webm, mov, mkv, avi, gif)")
    prepare.add_argument("--out", type=Path, required=True, help="dataset root folder")
    prepare.add_argument("--split", default="human", choices=("human", "anthro"), help="(default: human)")
    prepare.add_argument("--subset", default="test", choices=("train", "test"), help="(default: test)")
    prepare.add_argument(
        "--size", type=positive_int, help="centre-crop square and resize to SIZE (a multiple of 16)"
    )
    prepare.add_argument("--max-frames", type=positive_int, help="only the first N frames of each video")
    prepare.add_argument(
        "--backend", choices=("mediapipe", "dwpose"), default="mediapipe", help="pose detector"
    )
    prepare.add_argument("--dwpose-dir", type=Path, help="folder with the DWPose ONNX files (dwpose backend)")
    prepare.add_argument("--caption", help="caption for videos without their own caption")
    mode = prepare.add_mutually_exclusive_group()
    mode.add_argument("--overwrite", action="store_true", help="replace the clips of an existing dataset")
    mode.add_argument("--append", action="store_true", help="add clips to an existing dataset")
    prepare.set_defaults(func=run_prepare)


def run_prepare(args: argparse.Namespace) -> int:
    from animatex.data.prepare import DEFAULT_CAPTION, prepare_videos

    def progress(done: int, total: int, name: str) -> None:
        print(f"[{done}/{total}] {name}", file=sys.stderr, flush=True)

    folders = prepare_videos(
        args.videos_dir, args.out, split=args.split, subset=args.subset, size=args.size,
        max_frames=args.max_frames, backend=args.backend, dwpose_dir=args.dwpose_dir,
        caption=args.caption or DEFAULT_CAPTION, overwrite=args.overwrite, append=args.append, progress=progress,
    )  # fmt: skip
    print(f"wrote {len(folders)} clips to {args.out}")
    return 0
