"""`animatex ui`: the web app (gradio). Only the CLI imports this package; see docs/ui.md.

`studio` holds what the app does (no gradio); `app` the page. Call `configure_environment` before importing
`animatex.ui.app`: gradio reads its upload folder and analytics switch from the environment.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_OUT_DIR = Path("outputs") / "ui"


def configure_environment(out_dir: str | Path) -> Path:
    """Keep gradio's uploads under `out_dir`/cache and everything offline; returns that cache folder."""
    cache = (Path(out_dir) / "cache").resolve()
    cache.mkdir(parents=True, exist_ok=True)
    os.environ["GRADIO_TEMP_DIR"] = str(cache)
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    return cache
