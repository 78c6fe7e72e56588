"""`hashtagger serve`: the HTTP API over the predict pipeline (FastAPI TestClient)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import EXPORT_VOCAB

from hashtagger.cli import cli

pytest.importorskip("fastapi", reason="serve needs hashtagger[serve]")
pytest.importorskip("python_multipart", reason="serve needs hashtagger[serve]")
pytest.importorskip("httpx", reason="FastAPI's TestClient needs httpx")
from fastapi.testclient import TestClient  # noqa: E402

from hashtagger.models import load_tagger  # noqa: E402
from hashtagger.serve.app import ServeSettings, create_app  # noqa: E402


@pytest.fixture(scope="module")
def tagger(tiny_onnx: Path):
    t = load_tagger(tiny_onnx)
    t.to("cpu")
    return t


def client(tagger, **settings) -> TestClient:
    return TestClient(create_app(tagger, ServeSettings(workers=0, **settings)))


def jpeg(photo_factory, name: str, seed: int = 0) -> bytes:
    return photo_factory(name, size=(64, 48), seed=seed).read_bytes()


def test_predict_answers_exactly_the_cli_json(tagger, tiny_onnx: Path, photo_factory) -> None:
    a, b = photo_factory("a.jpg", seed=1), photo_factory("b.png", seed=2)
    cli_out = CliRunner().invoke(
        cli, ["predict", str(a), str(b), "-m", str(tiny_onnx), "-f", "json", "-q", "-k", "4", "-t", "0.2"]
    )
    expected = json.loads(cli_out.stdout)
    files = [
        ("file", ("a.jpg", a.read_bytes(), "image/jpeg")),
        ("file", ("b.png", b.read_bytes(), "image/png")),
    ]
    r = client(tagger).post("/v1/predict?top_k=4&threshold=0.2", files=files)
    assert r.status_code == 200
    got = r.json()
    assert [x["path"] for x in got] == ["a.jpg", "b.png"]
    for mine, theirs in zip(got, expected, strict=True):
        assert mine["hashtags"] == theirs["hashtags"]
        assert all(h["tag"] in EXPORT_VOCAB and h["score"] >= 0.2 for h in mine["hashtags"])


def test_non_image_is_an_error_record_not_a_500(tagger, photo_factory) -> None:
    files = [
        ("file", ("notes.txt", b"hello, not a photo", "text/plain")),
        ("file", ("ok.jpg", jpeg(photo_factory, "ok.jpg"), "image/jpeg")),
        ("file", ("empty.jpg", b"", "image/jpeg")),
    ]
    r = client(tagger).post("/v1/predict", files=files)
    assert r.status_code == 200
    notes, ok, empty = r.json()
    assert notes["path"] == "notes.txt" and "not an image" in notes["error"]
    assert "hashtagger-serve-" not in notes["error"] and "upload" not in notes["error"]  # no temp path leaks
    assert len(ok["hashtags"]) == 10 and "empty" in empty["error"]


def test_no_file_is_a_422_with_json(tagger) -> None:
    c = client(tagger)
    for r in (
        c.post("/v1/predict"),
        c.post("/v1/predict", files=[("other", ("a.jpg", b"x", "image/jpeg"))]),
        c.post("/v1/predict", data={"top_k": "3"}),
    ):
        assert r.status_code == 422 and "file" in r.json()["detail"]
    bad = c.post("/v1/predict?top_k=0", files=[("file", ("a.jpg", b"x", "image/jpeg"))])
    assert bad.status_code == 422 and bad.json()["detail"]


def test_prior_weight_is_refused_for_a_model_without_a_blend(tagger, photo_factory) -> None:
    r = client(tagger).post("/v1/predict?prior_weight=0.3", files=[("file", ("a.jpg", b"x", "image/jpeg"))])
    assert r.status_code == 422 and "zero-shot" in r.json()["detail"]


def test_oversized_upload_is_refused_while_streaming(tagger, photo_factory, monkeypatch, tmp_path) -> None:
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where upload folders would go
    c = client(tagger, max_upload_bytes=50_000)
    big = os.urandom(200_000)
    r = c.post("/v1/predict", files=[("file", ("big.jpg", big, "image/jpeg"))])
    assert r.status_code == 413 and "limit" in r.json()["detail"]

    sent = []

    def body():  # chunked: no Content-Length, so the limit must hold while reading
        boundary = b"XyZ"
        yield b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="x.jpg"\r\n\r\n'
        for _ in range(100):
            sent.append(1)
            yield b"\0" * 10_000
        yield b"\r\n--" + boundary + b"--\r\n"

    r = c.post("/v1/predict", content=body(), headers={"Content-Type": "multipart/form-data; boundary=XyZ"})
    assert r.status_code == 413
    assert list(tmp_path.iterdir()) == []  # the partial upload is gone
    r = c.post("/v1/predict", files=[("file", (f"{i}.jpg", b"x", "image/jpeg")) for i in range(70)])
    assert r.status_code == 413 and "more than 64" in r.json()["detail"]


def test_uploads_stay_in_a_private_folder_and_are_removed(
    tagger, photo_factory, monkeypatch, tmp_path
) -> None:
    import tempfile

    import hashtagger.serve.app as app_module

    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    seen: list[tuple[str, int, list[str]]] = []
    real = app_module.ModelService.predict

    def spy(self, folder, *args):
        seen.append(
            (str(folder.root), folder.root.stat().st_mode & 0o777, [p.name for p in folder.root.iterdir()])
        )
        return real(self, folder, *args)

    monkeypatch.setattr(app_module.ModelService, "predict", spy)
    name = "../../etc/passwd\x00<script>.jpg"
    r = client(tagger).post(
        "/v1/predict", files=[("file", (name, jpeg(photo_factory, "a.jpg"), "image/jpeg"))]
    )
    assert r.status_code == 200
    label = r.json()[0]["path"]  # a display label, never a path
    assert label.startswith("passwd") and label.endswith("script.jpg") and not set(label) & set("/\\<>\0")
    root, mode, names = seen[0]
    assert Path(root).parent == spool and mode == 0o700 and names == ["0000.upload"]
    assert list(spool.iterdir()) == []


def test_api_key_requires_bearer_token(tagger, photo_factory) -> None:
    c = client(tagger, api_key="s3cret")
    files = [("file", ("a.jpg", jpeg(photo_factory, "a.jpg"), "image/jpeg"))]
    assert c.post("/v1/predict", files=files).status_code == 401
    assert c.post("/v1/predict", files=files, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert c.get("/v1/models").status_code == 401
    ok = c.post("/v1/predict", files=files, headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200 and ok.json()[0]["hashtags"]
    health = c.get("/healthz")
    assert health.status_code == 200 and health.json()["auth"] is True


def test_health_models_and_page(tagger) -> None:
    c = client(tagger)
    assert c.get("/healthz").json()["status"] == "ok"
    models = c.get("/v1/models").json()
    assert models["loaded"]["tags"] == len(EXPORT_VOCAB) and models["loaded"]["runtime"] == "ONNX Runtime"
    roles = {m["name"]: m["role"] for m in models["models"]}  # the registry
    assert (roles["zeroshot"], roles["classifier"], roles["onnx"]) == ("builtin", "trainable", "exported")
    page = c.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for asset in ("/static/app.js", "/static/style.css"):
        assert c.get(asset).status_code == 200
    assert "http" not in page.text.replace("http-equiv", "")  # no CDN: everything comes from this server
    # a legend says what filled (content) and outlined (reach) chips mean, even where no browser test runs
    assert "content: what the photo shows" in page.text and "reach: popular tags people post" in page.text


def test_concurrent_requests_are_queued_not_raced(tagger, photo_factory, monkeypatch) -> None:
    """Many threads at once: the model is never entered twice at the same time, every answer is right."""
    import time

    inside, overlaps = [0], [0]
    real = tagger.score

    def guarded(batch):
        inside[0] += 1
        if inside[0] > 1:
            overlaps[0] += 1
        time.sleep(0.01)
        try:
            return real(batch)
        finally:
            inside[0] -= 1

    monkeypatch.setattr(tagger, "score", guarded)
    c = client(tagger)
    photos = [jpeg(photo_factory, f"p{i}.jpg", seed=i) for i in range(4)]
    expected = [c.post("/v1/predict", files=[("file", ("p.jpg", p, "image/jpeg"))]).json() for p in photos]
    results: dict[int, object] = {}

    def call(i: int) -> None:
        r = c.post("/v1/predict", files=[("file", ("p.jpg", photos[i % 4], "image/jpeg"))])
        results[i] = r.json()

    threads = [threading.Thread(target=call, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps[0] == 0
    assert all(results[i] == expected[i % 4] for i in range(12))


def test_serve_without_the_extra_is_one_line(monkeypatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "uvicorn", None)
    r = CliRunner().invoke(cli, ["serve", "--port", "0"])
    assert r.exit_code == 1 and "pip install 'hashtagger[serve]'" in r.output


def test_multipart_io_does_not_read_past_the_limit() -> None:
    """receive_uploads stops pulling chunks as soon as the limit is passed."""
    import asyncio

    from hashtagger.serve.uploads import TooLarge, receive_uploads

    pulled = []

    async def body():
        yield b'--B\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\n'
        for i in range(1000):
            pulled.append(i)
            yield b"x" * 1000

    with pytest.raises(TooLarge):
        asyncio.run(receive_uploads("multipart/form-data; boundary=B", body(), 10_000, 5))
    assert len(pulled) <= 11


def test_prior_weight_reaches_a_zero_shot_blend_for_one_request_only(photo_factory) -> None:
    import numpy as np

    from hashtagger.image.preprocess import Preprocessing
    from hashtagger.models.base import Tagger

    class BlendTagger(Tagger):
        """Scores (1 - w, w): which tag wins shows the prior weight the request ran with."""

        kind, uses_torch = "fake", False
        vocabulary, preprocessing, weight = ["visual", "social"], Preprocessing(size=8), 0.25

        @property
        def prior_weight(self) -> float:
            return self.weight

        def set_prior_weight(self, weight: float) -> None:
            self.weight = weight

        def tag(self, batch):  # pragma: no cover - the pipeline calls score
            raise NotImplementedError

        def score(self, batch: np.ndarray) -> np.ndarray:
            w = self.weight
            return np.tile(np.array([1 - w, w], dtype=np.float32), (len(batch), 1))

    t = BlendTagger()
    c = client(t)
    files = [("file", ("a.jpg", jpeg(photo_factory, "a.jpg"), "image/jpeg"))]
    heavy = c.post("/v1/predict?prior_weight=0.9&top_k=1", files=files).json()
    assert heavy[0]["hashtags"] == [{"tag": "social", "score": 0.9}]
    default = c.post("/v1/predict?top_k=1", files=files).json()
    assert default[0]["hashtags"] == [{"tag": "visual", "score": 0.75}] and t.prior_weight == 0.25
    assert c.post("/v1/predict?prior_weight=1.5", files=files).status_code == 422


def test_serve_command_loads_the_model_once_and_binds_to_loopback(
    tiny_onnx: Path, photo_factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command itself (not only the app): options reach the model and uvicorn gets 127.0.0.1."""
    import uvicorn

    started: dict = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: started.update(app=app, **kw))
    r = CliRunner().invoke(cli, ["serve", "--model", str(tiny_onnx), "--port", "9123", "-b", "4"])
    assert r.exit_code == 0, r.output
    assert started["host"] == "127.0.0.1" and started["port"] == 9123
    answer = TestClient(started["app"]).post(
        "/v1/predict", files=[("file", ("a.jpg", jpeg(photo_factory, "a.jpg"), "image/jpeg"))]
    )
    assert answer.status_code == 200 and answer.json()[0]["hashtags"]


def test_only_and_group_answer_like_the_cli(photo_factory) -> None:
    """With content and reach tags to tell apart, only= and group= answer the CLI's --only/--group json."""
    photo = photo_factory("a.jpg", size=(64, 48), seed=3)
    zeroshot = load_tagger("zeroshot")
    c = client(zeroshot)
    files = [("file", ("a.jpg", photo.read_bytes(), "image/jpeg"))]

    def cli_json(*args: str) -> list[dict]:
        r = CliRunner().invoke(
            cli, ["predict", str(photo), "-f", "json", "-q", "-k", "10", "--precision", "fp32", *args]
        )
        assert r.exit_code == 0, r.stderr
        return json.loads(r.stdout)[0]["hashtags"]

    for query, args in (("only=content", ["--only", "content"]), ("only=reach", ["--only", "reach"]),
                        ("group=true", ["--group"])):  # fmt: skip
        got = c.post(f"/v1/predict?top_k=10&{query}", files=files)
        assert got.status_code == 200, got.text
        assert got.json()[0]["hashtags"] == cli_json(*args), query
    kinds = [h["kind"] for h in c.post("/v1/predict?top_k=10&group=true", files=files).json()[0]["hashtags"]]
    assert "reach" in kinds and kinds == sorted(kinds)
    assert c.post("/v1/predict?only=popular", files=files).status_code == 422
