"""`hashtagger serve` under attack: huge images, slow uploads, clients that go away, hostile labels.

The model is conftest's ColourTagger (exact and instant); the server runs for real (uvicorn in a thread)
where the attack is on the connection itself.
"""

from __future__ import annotations

import io
import logging
import socket
import time

import pytest
from click.testing import CliRunner
from conftest import ColourTagger

from hashtagger.cli import cli

pytest.importorskip("fastapi", reason="serve needs hashtagger[serve]")
pytest.importorskip("python_multipart", reason="serve needs hashtagger[serve]")
pytest.importorskip("httpx", reason="FastAPI's TestClient needs httpx")
from fastapi.testclient import TestClient  # noqa: E402

from hashtagger.serve.app import ServeSettings, create_app  # noqa: E402
from hashtagger.serve.run import background_server  # noqa: E402

BOUNDARY = b"XyZ"


def client(**settings) -> TestClient:
    return TestClient(create_app(ColourTagger(), ServeSettings(workers=0, **settings)))


def png(width: int, height: int) -> bytes:
    """A one-colour PNG: a few KB on the wire, width x height pixels to decode."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def test_a_request_over_the_pixel_budget_is_413_before_the_model_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """64 PNGs of 9400x9400 (280 KB each) held the model lock for 55 s; the headers tell the cost first."""
    import hashtagger.predict.hashtags as hashtags

    big = png(1500, 1500)  # 2.25 megapixels
    c = client(max_megapixels=5)
    real = hashtags.predict_paths
    calls: list[int] = []
    monkeypatch.setattr(hashtags, "predict_paths", lambda *a, **k: calls.append(1) or real(*a, **k))
    files = [("file", (f"{i}.png", big, "image/png")) for i in range(3)]
    r = c.post("/v1/predict", files=files)
    assert r.status_code == 413 and calls == []
    assert r.json()["detail"] == (
        "the photos of this request hold 7 megapixels, over the limit of 5 per request; "
        "send fewer or smaller photos at a time"
    )
    ok = c.post("/v1/predict", files=files[:2] + [("file", ("notes.txt", b"not a photo", "text/plain"))])
    assert ok.status_code == 200 and calls == [1]  # what cannot be opened costs nothing; it fails alone
    assert [bool(rec.get("error")) for rec in ok.json()] == [False, False, True]


def _raw_request(url: str, body: bytes, length: int) -> socket.socket:
    host, port = url.split("//")[1].split(":")
    s = socket.create_connection((host, int(port)), timeout=10)
    head = (
        f"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY.decode()}\r\n\r\n"
    )
    s.sendall(head.encode() + body)
    return s


PART = b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n'


def _read_until_closed(s, limit: float = 10.0) -> str:  # noqa: ANN001 - a socket
    """Everything the server sends until it closes the connection (headers and body may come apart)."""
    s.settimeout(limit)
    chunks = []
    while chunk := s.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks).decode("latin-1")


def test_a_slow_upload_is_cut_off_with_408() -> None:
    """A client sending a byte now and then must not hold a connection (and a temp file) for ever."""
    with background_server(create_app(ColourTagger(), ServeSettings(workers=0, upload_timeout=1))) as url:
        s = _raw_request(url, PART + b"\x89PNG", 100_000)
        start = time.monotonic()
        for _ in range(3):  # still sending, a byte now and then, all within the deadline
            time.sleep(0.25)
            s.sendall(b"x")
        answer = _read_until_closed(s)  # then nothing more: the server must end it
        s.close()
    assert time.monotonic() - start < 5
    assert answer.startswith("HTTP/1.1 408 ")
    assert '{"detail":"upload not received within 1 s"}' in answer


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_a_client_that_goes_away_mid_upload_logs_no_traceback(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where upload folders go
    ours = logging.getLogger("hashtagger.serve")
    level = ours.level
    with background_server(create_app(ColourTagger(), ServeSettings(workers=0))) as url:
        seen = _Records()
        for logger in (logging.getLogger("uvicorn.error"), ours):
            logger.addHandler(seen)
        ours.setLevel(logging.INFO)
        try:
            s = _raw_request(url, PART + b"x" * 1000, 100_000)
            time.sleep(0.3)
            s.close()
            time.sleep(0.5)
        finally:
            ours.setLevel(level)
            for logger in (logging.getLogger("uvicorn.error"), ours):
                logger.removeHandler(seen)
    assert [r for r in seen.records if r.exc_info or r.levelno >= logging.ERROR] == []
    assert [r.getMessage() for r in seen.records] == ["a client went away during its upload"]
    assert list(tmp_path.iterdir()) == []  # the partial upload is gone


def test_labels_lose_bidi_overrides_and_invisible_characters() -> None:
    from hashtagger.serve.uploads import display_label

    assert display_label("photo\u202egpj.exe", 0) == "photogpj.exe"  # shown as 'photoexe.jpg' before
    assert display_label("a\u200bb\u2066c\u2069\u2028d\x85.jpg", 0) == "abcd.jpg"
    assert display_label("\u202e\u200f", 3) == "upload-4"
    assert display_label("café 🐈.jpg", 0) == "café 🐈.jpg"
    r = client().post("/v1/predict", files=[("file", ("cat\u202egnp.jpg", png(8, 8), "image/png"))])
    assert r.status_code == 200 and r.json()[0]["path"] == "catgnp.jpg"


@pytest.mark.parametrize("query", ["threshold=nan", "threshold=inf", "threshold=-inf", "prior_weight=nan"])
def test_nan_and_inf_in_the_query_are_422(query: str) -> None:
    r = client().post(f"/v1/predict?{query}", files=[("file", ("a.png", png(8, 8), "image/png"))])
    assert r.status_code == 422 and r.json()["detail"][0]["msg"] == "Input should be a finite number"


@pytest.mark.parametrize(
    ("option", "value"),
    [("--max-upload-mb", "inf"), ("--max-megapixels", "nan"), ("--upload-timeout", "inf")],
)
def test_serve_limits_must_be_finite(option: str, value: str) -> None:
    r = CliRunner().invoke(cli, ["serve", option, value])
    assert r.exit_code == 2 and f"Invalid value for '{option}': '{value}' is not a finite number." in r.output
