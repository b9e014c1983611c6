"""Writing output files whole or not at all.

Every user-facing file animatex writes goes through `atomic_output`: the writer fills a hidden temporary
file in the same folder, which is flushed to disk and renamed over the target only once it is complete.
A full disk, a read-only folder or a failed encoder therefore leaves no partial file and keeps an old
file that `--overwrite` was about to replace.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from animatex.errors import AnimatexError, OutputError

# What a user can do about each write failure; anything else gets the generic advice.
_ADVICE = {
    errno.ENOSPC: "free some disk space or write to another disk",
    errno.EDQUOT: "free some of your disk quota or write to another disk",
    errno.EFBIG: "the file grew past the size limit of this disk or process; write to another disk",
    errno.EACCES: "choose a folder you may write to",
    errno.EPERM: "choose a folder you may write to",
    errno.EROFS: "the disk is read-only; choose another folder",
    errno.ENOTDIR: "a file stands where a folder is needed; choose another path",
    errno.EISDIR: "a folder has that name; choose another file name",
}
_GENERIC_ADVICE = "check that the folder exists, is writable and has free space"


class EncoderError(RuntimeError):
    """An external encoder (ffmpeg) failed; the message is its own last words."""


def temporary_path(path: str | Path) -> Path:
    """The hidden sibling a writer fills first: `.NAME.tmp-PID.SUFFIX` (the suffix tells encoders the format)."""
    path = Path(path)
    return path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")


def write_failure(path: str | Path, error: BaseException | str) -> OutputError:
    """One line for a failed write: which file, what went wrong, what to do."""
    if isinstance(error, OSError):
        reason = (error.strerror or str(error)).strip().lower()
        advice = _ADVICE.get(error.errno, _GENERIC_ADVICE)
    else:
        reason = str(error).strip() or type(error).__name__
        lowered = reason.lower()
        advice = next(
            (
                _ADVICE[code]
                for code in (errno.ENOSPC, errno.EFBIG, errno.EACCES, errno.EROFS)
                if os.strerror(code).lower() in lowered
            ),
            _GENERIC_ADVICE,
        )
    return OutputError(f"could not write {path}: {reason}; {advice}. Nothing was written")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces `path`, on any error it is removed.

    OS errors (no space, read-only folder, ...) become one-line `OutputError`s. Parent folders are created.
    """
    path = Path(path)
    tmp = temporary_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.touch()  # fails here, before any slow encoding, when the folder is not writable
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
    except (OSError, EncoderError) as error:
        tmp.unlink(missing_ok=True)
        raise write_failure(path, error) from error
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str) -> Path:
    """Write a UTF-8 text file (json, markdown, csv) atomically."""
    path = Path(path)
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def check_writable(path: str | Path) -> None:
    """Refuse an output path whose folder cannot be created or written, before any slow work."""
    path = Path(path)
    if path.is_dir():
        raise AnimatexError(f"{path} is a folder; give a file name")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise AnimatexError(f"cannot write {path}: {folder} is a file, not a folder; choose another path")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise AnimatexError(f"cannot write {path}: folder {folder} is not writable; choose another folder")
