"""Outputs are written whole or not at all: a full disk or a failed encoder leaves no partial file."""

import errno
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from animatex.errors import OutputError
from animatex.io import write_video
from animatex.io.atomic import atomic_output, write_failure

# Run one writer with every write failing past `limit` bytes (EFBIG), as on a full disk; print its error.
_LIMITED_WRITE = textwrap.dedent(
    """
    import resource, signal, sys
    import numpy as np
    from animatex.errors import OutputError
    from animatex.io import write_image, write_text, write_video
    from animatex.pose.sequence import PoseSequence

    kind, path, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
    frames = np.random.default_rng(0).integers(0, 256, (9, 64, 64, 3), dtype=np.uint8)  # noise: large files
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    try:
        if kind == "video":
            write_video(path, frames)
        elif kind == "image":
            write_image(path, frames[0])
        elif kind == "poses":
            poses = PoseSequence.empty(400, 64, 64)
            poses.keypoints[:] = np.random.default_rng(0).random(poses.keypoints.shape)
            poses.save(path)
        else:
            write_text(path, "x" * 10 * limit)
    except OutputError as error:
        print(error)
        sys.exit(1)
    """
)


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("video", "out.mp4"),
        ("video", "out.gif"),
        ("image", "out.png"),
        ("poses", "out.npz"),
        ("text", "out.json"),
    ],
)
def test_full_disk_keeps_the_old_file_and_leaves_no_partial(tmp_path, kind, name):
    path = tmp_path / name
    path.write_bytes(b"the old file")
    done = subprocess.run(
        [sys.executable, "-c", _LIMITED_WRITE, kind, str(path), "4096"], capture_output=True, text=True
    )
    assert done.returncode == 1, done.stderr
    assert done.stdout.strip() == (
        f"could not write {path}: file too large; the file grew past the size limit of this disk or process; "
        "write to another disk. Nothing was written"
    )
    assert path.read_bytes() == b"the old file"
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # the temporary file is gone


def test_failed_ffmpeg_is_an_error_even_when_every_frame_was_taken(tmp_path, monkeypatch):
    """ffmpeg that swallows the frames, then fails (a full disk at the trailer) and exits 1."""
    import imageio_ffmpeg

    fake = tmp_path / "ffmpeg"
    fake.write_text(
        "#!/bin/sh\ncat > /dev/null\necho 'Error writing trailer: No space left on device' >&2\nexit 1\n"
    )
    fake.chmod(0o755)
    monkeypatch.setattr(imageio_ffmpeg, "get_ffmpeg_exe", lambda: str(fake))
    out = tmp_path / "videos" / "out.mp4"
    with pytest.raises(OutputError) as error:
        write_video(out, np.zeros((3, 16, 16, 3), np.uint8))
    assert str(error.value) == (
        f"could not write {out}: Error writing trailer: No space left on device; free some disk space or "
        "write to another disk. Nothing was written"
    )
    assert list(out.parent.iterdir()) == []


def test_atomic_output_replaces_only_when_complete(tmp_path):
    path = tmp_path / "result.json"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_output(path) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".result.tmp-") and tmp.suffix == ".json"
        tmp.write_text("half")
        raise RuntimeError("the writer failed")
    assert path.read_text() == "old" and sorted(tmp_path.iterdir()) == [path]
    with atomic_output(path) as tmp:
        tmp.write_text("new")
    assert path.read_text() == "new" and sorted(tmp_path.iterdir()) == [path]


def test_unwritable_folder_reports_the_file(tmp_path):
    # Root (these tests' user) may write anywhere, so the message for a read-only folder is checked directly.
    error = write_failure(tmp_path / "a.mp4", PermissionError(errno.EACCES, os.strerror(errno.EACCES)))
    assert str(error) == (
        f"could not write {tmp_path / 'a.mp4'}: permission denied; choose a folder you may write to. "
        "Nothing was written"
    )
    assert error.exit_code == 1
