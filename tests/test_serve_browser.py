"""The web page in a real headless browser (Debian's chromium driven by Playwright): upload, see hashtags."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from conftest import EXPORT_VOCAB

pytest.importorskip("fastapi", reason="serve needs hashtagger[serve]")
sync_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs playwright (pip)")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.slow  # a real browser: part of the full run, not of `-m "not slow"`


@pytest.fixture(scope="module")
def base_url(tiny_onnx: Path):
    from hashtagger.models import load_tagger
    from hashtagger.serve.app import ServeSettings, create_app
    from hashtagger.serve.run import background_server

    with background_server(create_app(load_tagger(tiny_onnx), ServeSettings(workers=0))) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("no chromium on this machine (apt-get install chromium): browser test skipped")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def test_page_uploads_a_photo_and_shows_its_hashtags(browser, base_url: str, photo_factory) -> None:
    photo = photo_factory("holiday.jpg", size=(120, 90), seed=3)
    junk = photo_factory("notes.jpg")
    junk.write_bytes(b"not a photo at all")
    page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
    page.goto(base_url + "/")
    page.fill("#top_k", "3")
    page.set_input_files("#files", [str(photo), str(junk)])
    page.wait_for_selector(".card .hashtag", timeout=30_000)
    cards = page.locator(".card")
    assert cards.count() == 2
    first = cards.nth(0)
    assert first.locator(".name").inner_text() == "holiday.jpg"
    tags = first.locator(".hashtag .tag").all_inner_texts()
    bars = first.locator(".hashtag .score").all()
    scores = [float(bar.get_attribute("data-score")) for bar in bars]
    assert len(tags) == 3 and all(t.startswith("#") and t[1:] in EXPORT_VOCAB for t in tags)
    assert scores == sorted(scores, reverse=True)
    # scores are bars next to the best tag, the number in the tooltip; no raw 0.0029 on the chip
    widths = [bar.evaluate("b => b.firstChild.getBoundingClientRect().width") for bar in bars]
    assert widths == sorted(widths, reverse=True) and widths[0] > widths[-1] > 0
    assert [bar.inner_text() for bar in bars] == ["", "", ""]
    title = first.locator(".hashtag").first.get_attribute("title")
    assert re.fullmatch(r"score 0\.\d\d, 100% of the best tag", title), title
    legend = page.locator("#legend")
    assert legend.is_visible() and "content: what the photo shows" in legend.inner_text()
    assert "reach: popular tags people post" in legend.inner_text()
    assert "not an image" in cards.nth(1).locator(".error").inner_text()
    assert first.locator("button.copy").is_visible()
    # usable on a phone: nothing wider than the screen
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.close()


def test_copy_button_puts_the_hashtags_on_the_clipboard(browser, base_url: str, photo_factory) -> None:
    photo = photo_factory("one.jpg", size=(80, 80), seed=9)
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.goto(base_url + "/")
    page.set_input_files("#files", str(photo))
    page.wait_for_selector(".card button.copy", timeout=30_000)
    page.click(".card button.copy")
    page.wait_for_selector("button.copy.done")
    copied = page.evaluate("navigator.clipboard.readText()")
    shown = page.locator(".card .hashtag .tag").all_inner_texts()
    assert copied == " ".join(shown) and len(shown) == 10
    context.close()


@pytest.fixture(scope="module")
def zeroshot_url():
    from hashtagger.models import load_tagger
    from hashtagger.serve.app import ServeSettings, create_app
    from hashtagger.serve.run import background_server

    with background_server(create_app(load_tagger("zeroshot"), ServeSettings(workers=0))) as url:
        yield url


def test_reach_tags_are_marked_and_the_tag_filter_keeps_one_kind(
    browser, zeroshot_url: str, photo_factory
) -> None:
    photo = photo_factory("street.jpg", size=(120, 90), seed=3)
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(zeroshot_url + "/")
    page.fill("#top_k", "10")
    page.set_input_files("#files", str(photo))
    page.wait_for_selector(".card .hashtag", timeout=30_000)
    chips = page.locator(".card .hashtag")
    marked = [c.get_attribute("class") for c in chips.all()]
    assert "hashtag reach" in marked and "hashtag" in marked  # both kinds, told apart on screen
    assert chips.filter(has=page.locator(".tag")).nth(marked.index("hashtag reach")).get_attribute("title")
    for choice, wanted in (("content", "hashtag"), ("reach", "hashtag reach")):
        with page.expect_response(lambda r, c=choice: f"only={c}" in r.url):
            page.select_option("#only", choice)
        # the answer is drawn after it arrives: wait until the chips on screen are all of one kind
        page.wait_for_function(
            "w => { const c = [...document.querySelectorAll('.card .hashtag')];"
            " return c.length > 0 && c.every(x => x.className === w); }",
            arg=wanted,
            timeout=10_000,
        )
    page.close()
