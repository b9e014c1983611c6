"""Take docs/img/ui.png: the web app after one click on its first example and one on Animate.

Run from the repository root after `make install` (needs Debian's chromium, which it installs as root):
`.venv/bin/python docs/scripts/ui_screenshot.py`. The app runs on a free localhost port with the demo model.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from PIL import Image
from playwright.sync_api import sync_playwright

from animatex.ui.serve import find_chromium, running_app

WIDTH = 1280
FIRST_EXAMPLE = "an orange cartoon cat is taking a bow"  # `animatex demo`'s case, the app's first example
# A palette PNG: the page is flat colours and 64 px videos, so this keeps it small and near exact.
COLOURS = 128


def main(out: str = "docs/img/ui.png") -> None:
    chromium = find_chromium()
    if chromium is None:
        sys.exit("no chromium on PATH: run `make install` as root, or apt-get install chromium")
    # The app's default output folder: the page shows it, and the app only ever adds new files there.
    with running_app(Path("outputs") / "ui") as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": WIDTH, "height": 900})
        page.set_default_timeout(120_000)
        page.goto(url)
        page.wait_for_selector("#animate-button")
        page.get_by_text(FIRST_EXAMPLE).first.click()
        page.wait_for_selector("#pose-preview video[src]")
        page.click("#animate-button")
        page.wait_for_selector("#result-video video[src]")
        page.get_by_text("Prompt sent to the model").wait_for()
        time.sleep(1.5)  # let the looping videos show a frame mid-motion
        page.screenshot(path=out, full_page=True)
        browser.close()
    Image.open(out).convert("RGB").quantize(COLOURS).save(out, optimize=True)
    print(f"wrote {out} ({Path(out).stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main(*sys.argv[1:])
