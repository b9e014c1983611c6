"""Run every bad input of the table in docs/cli.md and rewrite its exit status and message columns.

Run from the repository root after changing a message: `.venv/bin/python docs/scripts/bad_inputs.py`.
tests/cli/test_bad_inputs.py runs the same rows and fails when the table and the commands disagree.
Each row runs in one folder of small inputs (`build_inputs`); a row with a condition of "disk full" runs in a
subprocess whose writes fail past 4 kB (RLIMIT_FSIZE), the way a full disk makes them fail.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CLI_DOC = Path(__file__).resolve().parents[1] / "cli.md"
START, END = "<!-- bad-inputs:start -->", "<!-- bad-inputs:end -->"
DISK_FULL = "disk full"
DISK_LIMIT = 4096  # bytes a "disk full" row may write per file

# Runs the CLI with every file write failing past the limit (EFBIG instead of the default SIGXFSZ kill).
_LIMITED = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
from animatex.cli import main
sys.exit(main(sys.argv[1:]))
"""


@dataclass
class Row:
    command: str  # as typed, starting with "animatex"
    condition: str
    exit: str
    message: str

    def cells(self) -> str:
        return f"| `{self.command}` | {self.condition} | {self.exit} | `` {self.message} `` |"


def read_rows(doc: str) -> list[Row]:
    """The rows of the table between the bad-inputs markers of docs/cli.md."""
    table = doc.split(START, 1)[1].split(END, 1)[0]
    rows = []
    for line in table.strip().splitlines()[2:]:  # after the header and the |---| line
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        command, condition, exit_code, message = (cells + ["", "", ""])[:4]
        rows.append(Row(command.strip("`"), condition, exit_code, message.strip("`").strip()))
    return rows


def write_rows(doc: str, rows: list[Row]) -> str:
    head, rest = doc.split(START, 1)
    table, tail = rest.split(END, 1)
    header = table.strip().splitlines()[:2]
    return head + START + "\n" + "\n".join([*header, *(row.cells() for row in rows)]) + "\n" + END + tail


def build_inputs(folder: Path) -> None:
    """Small good and bad inputs the rows name: pictures, pose files, videos, weights, a model, a dataset."""
    import torch

    from animatex.data.generate import generate
    from animatex.io import write_image, write_video
    from animatex.pipelines.tiny import build_tiny_pipeline
    from animatex.pose.sequence import PoseSequence

    rng = np.random.default_rng(0)
    frames = (rng.random((9, 64, 64, 3)) * 255).astype(np.uint8)
    write_image(folder / "ref.png", frames[0])
    write_video(folder / "driving.mp4", frames)
    (folder / "old.mp4").write_bytes((folder / "driving.mp4").read_bytes())  # an earlier result, kept
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "cut.mp4").write_bytes((folder / "driving.mp4").read_bytes()[:3000])  # a download cut short
    (folder / "notes.mp4").write_text("not a video\n")
    (folder / "notes.png").write_text("not a picture\n")

    poses = PoseSequence.empty(9, 64, 64)
    poses.keypoints[:, :18] = (32.0, 32.0, 1.0)
    poses.save(folder / "poses.npz")
    fields = {"image_size": np.array([64, 64]), "fps": np.array(16.0)}
    for name, value in (("nan", np.nan), ("inf", np.inf)):
        keypoints = poses.keypoints.copy()
        keypoints[3, 5, 0] = value
        np.savez(folder / f"{name}_poses.npz", keypoints=keypoints, **fields)
    np.savez(folder / "no_frames.npz", keypoints=np.zeros((0, 134, 3), np.float32), **fields)

    class RunsCode:
        def __reduce__(self):
            return (print, ("this could have been any code",))

    torch.save({"weight": torch.zeros(2), "payload": RunsCode()}, folder / "pickled.pt")
    (folder / "damaged.pt").write_bytes(b"PK\x03\x04 not really a zip")

    build_tiny_pipeline(seed=0).save_pretrained(folder / "tiny_model")
    generate(folder / "dataset", "human", 1, 0, "test", 32, 5)
    (folder / "my_files").mkdir()
    (folder / "my_files" / "notes.txt").write_text("mine\n")
    (folder / "my_empty_folder").mkdir()
    (folder / "videos").mkdir()
    (folder / "videos" / "a.mp4").write_bytes((folder / "driving.mp4").read_bytes())
    (folder / "videos" / "b.mp4").write_bytes((folder / "driving.mp4").read_bytes()[:3000])
    (folder / "wan").mkdir()  # enough of the original Wan2.1 layout to pass the layout check
    for name in (
        "diffusion_pytorch_model-00001-of-00001.safetensors",
        "Wan2.1_VAE.pth",
        "models_t5_umt5-xxl-enc-bf16.pth",
        "models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth",
    ):
        (folder / "wan" / name).write_bytes(b"")
    (folder / "config.yaml").write_text("model:\n  preset: tiny\n")
    (folder / "report").mkdir()
    (folder / "report" / "results.json").write_text(json.dumps({"cases": []}))


def snapshot(folder: Path) -> dict[str, str]:
    """Every file and folder under `folder` with a hash of its bytes: what a failed command must not change."""
    state = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        state[key] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def run_row(row: Row, folder: Path) -> tuple[int, str]:
    """(exit status, stderr) of the row's command run in `folder`."""
    argv = shlex.split(row.command)[1:]
    if row.condition == DISK_FULL:
        script = _LIMITED.format(limit=DISK_LIMIT)
        done = subprocess.run(
            [sys.executable, "-c", script, *argv], cwd=folder, capture_output=True, text=True, check=False
        )
        return done.returncode, done.stderr
    from animatex.cli import main

    err, out = io.StringIO(), io.StringIO()
    cwd = Path.cwd()
    os.chdir(folder)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            code = main(argv)
    finally:
        os.chdir(cwd)
    return code, err.getvalue()


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def main() -> None:
    import tempfile

    doc = CLI_DOC.read_text(encoding="utf-8")
    rows = read_rows(doc)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        build_inputs(folder)
        for row in rows:
            before = snapshot(folder)
            code, err = run_row(row, folder)
            row.exit, row.message = str(code), last_line(err)
            changed = snapshot(folder) != before
            print(f"{code} {'CHANGED FILES ' if changed else ''}{row.message}", file=sys.stderr)
    CLI_DOC.write_text(write_rows(doc, rows), encoding="utf-8")
    print(f"rewrote {len(rows)} rows in {CLI_DOC}")


if __name__ == "__main__":
    main()
