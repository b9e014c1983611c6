"""`animatex ui`: serve the web app (gradio) on this machine; see docs/ui.md."""

from __future__ import annotations

import argparse
from pathlib import Path

from animatex.cli.arguments import positive_float


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ui",
        help="serve the web app: upload a picture and a driving video, preview the poses, animate",
        description="Serve the animatex web app (gradio) on http://HOST:PORT. It binds to this machine only "
        "unless --host says otherwise, loads nothing from the internet, runs one animation at a time (others "
        "queue) and writes everything under --out. See docs/ui.md.",
    )
    parser.add_argument("--model", type=Path,
                        help="AnimateXPipeline folder (default: the demo model in weights/animatex-demo)")  # fmt: skip
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0 exposes it)")  # fmt: skip
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--out", type=Path, default=Path("outputs") / "ui",
                        help="folder for uploads, previews, examples and results (default outputs/ui)")  # fmt: skip
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cuda (default cpu)")
    parser.add_argument("--memory", default="none",
                        help="memory mode the model is loaded with, as `animatex animate --memory` (e.g. "
                        "fp8+group-offload+vae-tiling; `animatex plan` predicts each one's peak); default none")  # fmt: skip
    parser.add_argument("--gguf", type=Path,
                        help="a GGUF file of the transformer, as `animatex animate --gguf` (docs/weights.md)")  # fmt: skip
    parser.add_argument("--lora", action="append", metavar="FILE[:SCALE]",
                        help="merge a LoRA into the transformer, as `animatex animate --lora` (repeatable)")  # fmt: skip
    parser.add_argument(
        "--max-upload-mb", type=positive_float, default=100.0, help="largest upload in MB (default 100)"
    )
    parser.add_argument(
        "--backend", choices=("mediapipe", "dwpose"), default="mediapipe", help="pose detector"
    )
    parser.add_argument("--dwpose-dir", type=Path, help="folder with the DWPose ONNX files (dwpose backend)")
    parser.add_argument("--share", action="store_true",
                        help="also open a public gradio share link (off by default; needs the internet)")  # fmt: skip
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from animatex.errors import AnimatexError

    if not 0 < args.port < 65536:
        raise AnimatexError(f"--port must be between 1 and 65535, got {args.port}")
    if args.out.exists() and not args.out.is_dir():
        raise AnimatexError(f"--out {args.out} exists and is not a folder")

    import importlib.util

    if importlib.util.find_spec("gradio") is None:
        raise AnimatexError("the web app needs gradio: pip install -e '.[ui]' (make install does)")

    from animatex.animate import default_model_dir, load_pipeline

    # The model first: a bad --model is refused before anything is written under --out.
    pipe = load_pipeline(args.model, args.device, args.memory, transformer_gguf=args.gguf, lora=args.lora)

    from animatex.ui import configure_environment

    configure_environment(args.out)  # before gradio is imported

    from animatex.ui.app import build_app, launch
    from animatex.ui.studio import Studio, UploadLimits, ensure_examples

    parts = [args.model or default_model_dir(), args.gguf, *(args.lora or [])]  # what the page says it runs
    model_label = " + ".join(str(part) for part in parts if part is not None)
    studio = Studio(
        pipe, args.out, limits=UploadLimits(max_file_mb=args.max_upload_mb), backend=args.backend,
        dwpose_dir=args.dwpose_dir, memory=args.memory,
    )  # fmt: skip
    examples = ensure_examples(args.out)
    app = build_app(studio, examples, model_label=model_label)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"animatex ui: note: binding {args.host}: other machines can reach this app (no login)")
    print(
        f"animatex ui: model {model_label}, outputs in {studio.out_dir}; open http://{args.host}:{args.port}"
    )
    try:
        launch(
            app, host=args.host, port=args.port, share=args.share, out_dir=args.out,
            max_file_mb=args.max_upload_mb,
        )  # fmt: skip
    except OSError as error:  # the port is taken, or the address is not this machine's
        raise AnimatexError(
            f"cannot serve on {args.host}:{args.port} ({error}); pass another --port"
        ) from error
    return 0
