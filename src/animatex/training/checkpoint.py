"""The run folder (`prepare_run_folder`, log.csv) and its checkpoints: written atomically (temporary folder + rename), the last K kept, resumed
exactly.

A checkpoint is a folder `checkpoint-NNNNNNNN/` holding the trainable weights (`trainable.safetensors`), the
EMA weights when kept (`ema.safetensors`), the optimizer and LR-schedule states (`optimizer.pt`,
`scheduler.pt`, plain tensors and numbers, loaded with `weights_only=True`) and `state.json` (step, config).
The data order and every random draw are functions of (seed, step, process), so the step is all the data
position and RNG state there is to restore. We keep this format rather than `accelerator.save_state`: named
safetensors that a reader can open, and no RNG or sampler state to pickle.
"""

from __future__ import annotations

import csv
import errno
import json
import os
import pickle
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from animatex.errors import AnimatexError

PREFIX = "checkpoint-"
LOG = "log.csv"  # step, task, loss, lr, seconds
MARKER = ".animatex-run"  # written into every run folder the trainers make: the folder is "ours"
DISK_FULL = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


def checkpoint_dirs(output_dir: str | Path) -> list[Path]:
    """Complete checkpoints under `output_dir`, oldest first."""
    root = Path(output_dir)
    if not root.is_dir():
        return []
    found = [
        p
        for p in root.iterdir()
        if p.is_dir() and p.name.startswith(PREFIX) and p.name[len(PREFIX) :].isdigit()
    ]
    return sorted(found, key=lambda p: int(p.name[len(PREFIX) :]))


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    found = checkpoint_dirs(output_dir)
    return found[-1] if found else None


def _partial_writes(root: Path) -> list[Path]:
    """Checkpoint folders a killed run left half-written (`.checkpoint-N.tmp-PID`, `.checkpoint-N.old-PID`)."""
    return [p for p in root.glob(f".{PREFIX}*") if p.is_dir() and (".tmp-" in p.name or ".old-" in p.name)]


def prepare_run_folder(output_dir: str | Path, resume: bool, overwrite: bool) -> None:
    """Make `output_dir` a run folder, refusing one that holds a user's files or (without `resume`) a run.

    A folder is ours when a trainer made it (MARKER) or it holds checkpoints. Nothing is ever deleted but the
    half-written checkpoint folders an interrupted run of ours left behind.
    """
    root = Path(output_dir)
    if root.exists() and not root.is_dir():
        raise AnimatexError(f"--output {root} is a file, not a folder: choose a folder")
    existing = latest_checkpoint(root)
    if existing is not None and not resume:
        raise AnimatexError(
            f"{root} already holds {existing.name}: pass --resume to continue it, or choose another --output"
        )
    ours = (root / MARKER).is_file() or existing is not None
    contents = sorted(p.name for p in root.iterdir()) if root.is_dir() else []
    if contents and not ours and not overwrite:
        shown = ", ".join(contents[:3]) + (", ..." if len(contents) > 3 else "")
        raise AnimatexError(
            f"--output {root} is not empty and was not made by animatex ({shown}): choose a new or empty folder, "
            "or pass --overwrite to write into it (files of the same names are replaced)"
        )
    try:
        root.mkdir(parents=True, exist_ok=True)
        (root / MARKER).touch()
    except OSError as error:
        raise write_error(root, error) from None
    if ours:
        for partial in _partial_writes(root):
            shutil.rmtree(partial, ignore_errors=True)
        _trim_log(root / LOG, int(existing.name[len(PREFIX) :]) if resume and existing is not None else 0)


def _trim_log(path: Path, start: int) -> None:
    """Keep the log.csv rows of steps up to `start`: a resumed run writes the later steps again."""
    if not path.is_file():
        return
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    kept = rows[:1] + [row for row in rows[1:] if row and row[0].isdigit() and int(row[0]) <= start]
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(kept if start > 0 else [])


def log_row(output_dir: Path, **values: Any) -> None:
    """Append one row to the run's log.csv (its header first)."""
    path = Path(output_dir) / LOG
    try:
        new = not path.exists() or path.stat().st_size == 0
        with path.open("a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(values))
            if new:
                writer.writeheader()
            writer.writerow(values)
    except OSError as error:
        raise write_error(path, error) from None


def raise_write_error(path: Path, error: BaseException) -> None:
    """Raise `write_error` for a failed write to `path`; return for any other error (the caller re-raises it)."""
    if isinstance(error, OSError):
        raise write_error(path, error) from None
    if isinstance(error, (RuntimeError, SafetensorError)) and _disk_full(path.parent):
        # torch.save and safetensors report a failed write without its errno
        raise write_error(path, OSError(errno.ENOSPC, str(error))) from None


def write_error(path: Path, error: OSError) -> AnimatexError:
    """One line for a failed write: what, where, and what to do."""
    if error.errno in DISK_FULL:
        return AnimatexError(
            f"could not write {path}: the disk is full (or a file size limit was reached); free space or choose "
            "another --output, then run again with --resume"
        )
    return AnimatexError(f"could not write {path}: {error.strerror or error}")


def save_checkpoint(
    output_dir: str | Path,
    step: int,
    trainable: dict[str, torch.Tensor],
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    state: dict[str, Any],
    keep: int,
    ema: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write checkpoint `step` atomically, then delete all but the newest `keep`."""
    root = Path(output_dir)
    final = root / f"{PREFIX}{step:08d}"
    tmp = root / f".{final.name}.tmp-{os.getpid()}"
    try:
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        save_file(
            {k: v.detach().contiguous().cpu() for k, v in trainable.items()}, tmp / "trainable.safetensors"
        )
        if ema is not None:
            save_file({k: v.detach().contiguous().cpu() for k, v in ema.items()}, tmp / "ema.safetensors")
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
        (tmp / "state.json").write_text(json.dumps({**state, "step": step}, indent=2))
    except BaseException as error:  # Ctrl-C and a full disk alike: leave no half-written folder behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise_write_error(final, error)
        raise
    if final.exists():  # a re-run of the same step: replace it whole, never leaving neither on disk
        old = root / f".{final.name}.old-{os.getpid()}"
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old)
    else:
        os.replace(tmp, final)
    for previous in checkpoint_dirs(root)[:-keep]:
        shutil.rmtree(previous, ignore_errors=True)
    return final


def _disk_full(root: Path) -> bool:
    """Whether a 1 MiB probe file cannot be written in `root` (the cause of a write error without an errno)."""
    probe = root / f".write-probe-{os.getpid()}"
    try:
        with probe.open("wb") as handle:
            handle.write(b"\0" * (1 << 20))
            handle.flush()
            os.fsync(handle.fileno())
        return False
    except OSError as error:
        return error.errno in DISK_FULL
    finally:
        probe.unlink(missing_ok=True)


def _read(path: Path, load: Any) -> Any:
    """`load(path)`, with any failure turned into one line that names the file and says what to do."""
    advice = f"delete {path.parent.name} to resume from the checkpoint before it"
    if not path.is_file():
        raise AnimatexError(f"{path} is missing: the checkpoint is incomplete; {advice}")
    try:
        return load(path)
    except pickle.UnpicklingError:
        raise AnimatexError(
            f"{path} holds Python objects other than tensors and numbers, and loading it could run code: refused; "
            f"{advice} (and do not resume from files of unknown origin)"
        ) from None
    except (RuntimeError, SafetensorError, EOFError, ValueError, OSError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise AnimatexError(f"{path} cannot be read ({reason}): {advice}") from None


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Everything `save_checkpoint` wrote, as tensors and plain values."""
    path = Path(path)
    tensors = lambda file: torch.load(file, map_location="cpu", weights_only=True)  # noqa: E731
    return {
        "trainable": _read(path / "trainable.safetensors", load_file),
        "ema": _read(path / "ema.safetensors", load_file) if (path / "ema.safetensors").exists() else None,
        "optimizer": _read(path / "optimizer.pt", tensors),
        "scheduler": _read(path / "scheduler.pt", tensors),
        "state": _read(path / "state.json", lambda file: json.loads(file.read_text())),
    }
