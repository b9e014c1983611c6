"""The web app in a real browser: Playwright drives headless Chromium (Debian's, from `make install`)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from animatex.io import read_video
from animatex.ui.serve import find_chromium

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extras (make install)")
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]"}
TIMEOUT_MS = 90_000


@pytest.fixture(scope="module")
def page(app_url: str):
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("no Chromium on PATH: `make install` installs Debian's chromium when run as root")
    with sync_api.sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(
                executable_path=chromium, headless=True, args=["--no-sandbox"]
            )
        except sync_api.Error as error:
            pytest.skip(f"{chromium} does not start headless here: {error}")
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(TIMEOUT_MS)
        page.requested_hosts = set()
        page.on("request", lambda request: page.requested_hosts.add(urlsplit(request.url).hostname))
        page.goto(app_url)
        page.wait_for_selector("#animate-button")
        yield page
        browser.close()


def upload(page, elem_id: str, path: Path) -> None:
    page.locator(f"#{elem_id} input[type=file]").set_input_files(str(path))


def open_accordion(page, title: str) -> None:
    page.get_by_text(title).first.click()


def test_upload_preview_animate_download(
    page, app_url: str, case: Path, case_frames: int, tmp_path: Path
) -> None:
    # The pose files first: the synthetic character is a cartoon, in which no detector finds a body.
    open_accordion(page, "Reference pose file (optional)")
    open_accordion(page, "Driving pose file (optional)")
    upload(page, "reference-pose-input", case / "reference_pose.npz")
    upload(page, "driving-poses-input", case / "poses.npz")
    upload(page, "reference-input", case / "reference.png")
    upload(page, "driving-input", case / "driving.mp4")
    page.locator("#size input, #size textarea").first.fill("64x64")
    page.locator("#frames input").first.fill(str(case_frames))

    page.wait_for_selector("#reference-view img[src]")
    page.wait_for_selector("#pose-preview video[src]")

    page.click("#animate-button")
    result = page.wait_for_selector("#result-video video[src]")
    page.wait_for_selector("#grid-video video[src]")
    page.get_by_text("Prompt sent to the model").wait_for()
    video = tmp_path / "result.mp4"
    video.write_bytes(page.request.get(result.get_attribute("src")).body())
    frames, _ = read_video(video)
    assert frames.shape == (case_frames, 64, 64, 3)
    links = page.locator("#downloads a[download]")
    names = links.evaluate_all("links => links.map(link => link.getAttribute('download'))")
    assert sorted(names) == ["grid.mp4", "poses.npz", "result.mp4", "settings.json"]

    # Nothing but the app itself was asked for anything: no CDN, fonts or analytics.
    assert page.requested_hosts <= LOCAL_HOSTS, page.requested_hosts


def test_an_example_fills_the_inputs_with_one_click(page) -> None:
    page.reload()
    page.get_by_text("an orange cartoon cat is taking a bow").first.click()  # `animatex demo`'s case
    page.wait_for_selector("#reference-view img[src]")
    page.wait_for_selector("#pose-preview video[src]")
    assert "rough waves roll slowly to the right" in page.locator("#prompt textarea").input_value()


def test_bad_upload_shows_its_message(page, case: Path, tmp_path: Path) -> None:
    not_a_video = tmp_path / "holiday.mp4"
    not_a_video.write_text("this is not a video\n")
    broken_picture = tmp_path / "broken.png"
    broken_picture.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    # The preview runs once both files are there: the good picture makes it read the bad video.
    page.reload()  # empty inputs again (a filled file box has no file input until cleared)
    page.wait_for_selector("#animate-button")
    upload(page, "driving-input", not_a_video)
    upload(page, "reference-input", case / "reference.png")
    page.get_by_text("holiday.mp4 is not a video that can be read").first.wait_for()

    page.reload()
    page.wait_for_selector("#animate-button")
    upload(page, "reference-input", broken_picture)
    page.get_by_text("broken.png is not a picture that can be read").first.wait_for()
    assert "Traceback" not in page.content()
