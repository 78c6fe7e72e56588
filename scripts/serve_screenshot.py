"""Screenshot of the `hashtagger serve` page with real answers, for the README (docs/serve.png).

    python scripts/serve_screenshot.py                       # zeroshot, desktop width
    python scripts/serve_screenshot.py --width 390 --out /tmp/phone.png

Starts the server on a free 127.0.0.1 port, opens the page in Debian's chromium (Playwright), uploads
examples/chelsea.png, two scikit-image sample photos and one file that is not a photo, and saves the page.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def sample_photos(folder: Path) -> list[Path]:
    from PIL import Image
    from skimage import data

    photos = [ROOT / "examples" / "chelsea.png"]
    for name in ("coffee", "rocket"):
        path = folder / f"{name}.jpg"
        Image.fromarray(getattr(data, name)()).save(path, quality=92)
        photos.append(path)
    notes = folder / "notes.txt"
    notes.write_text("a shopping list, not a photo\n")
    return [*photos, notes]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="zeroshot")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "serve.png")
    ap.add_argument("--width", type=int, default=900)
    ap.add_argument("--top-k", type=int, default=8)
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    from hashtagger.models import ModelSpec, open_tagger
    from hashtagger.runtime import RunOptions
    from hashtagger.serve.app import ServeSettings, create_app
    from hashtagger.serve.run import background_server

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("no chromium here: apt-get install chromium")
    tagger = open_tagger(ModelSpec(args.model), RunOptions(device="cpu", precision="fp32", workers=0))
    with tempfile.TemporaryDirectory() as tmp, background_server(create_app(tagger, ServeSettings())) as url:
        photos = sample_photos(Path(tmp))
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": args.width, "height": 900}, device_scale_factor=1)
            page.goto(url + "/")
            page.fill("#top_k", str(args.top_k))
            page.set_input_files("#files", [str(x) for x in photos])
            page.wait_for_selector(".card .hashtag", timeout=120_000)
            page.screenshot(path=str(args.out), full_page=True)
            browser.close()
    print(args.out)


if __name__ == "__main__":
    main()
