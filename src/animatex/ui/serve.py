"""Run `animatex ui` in a child process and find a headless browser: for the browser test and screenshots."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Debian's package (what `make install` puts there), then other common names.
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """A Chromium-family executable on PATH (ANIMATEX_CHROMIUM wins), or None."""
    explicit = os.environ.get("ANIMATEX_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    return next((path for name in BROWSER_NAMES if (path := shutil.which(name))), None)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_app(
    out_dir: str | Path, *args: str, timeout: float = 180.0, log: str | Path | None = None
) -> Iterator[str]:
    """`animatex ui --out out_dir ARGS` on a free localhost port; yields its URL, stops it afterwards."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log_path = Path(log) if log else Path(out_dir) / "server.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-c", "import sys; from animatex.cli import main; sys.exit(main())"]
    command += ["ui", "--out", str(out_dir), "--port", str(port), *args]
    with open(log_path, "w") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if process.poll() is not None:
                    raise RuntimeError(
                        f"animatex ui exited with {process.returncode}:\n{log_path.read_text()}"
                    )
                try:
                    with urllib.request.urlopen(url, timeout=2):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise TimeoutError(
                            f"animatex ui did not answer in {timeout:g} s:\n{log_path.read_text()}"
                        ) from None
                    time.sleep(0.5)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
