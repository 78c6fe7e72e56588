"""Tagging on Ray gives what one process gives: `HashtagPredictor` (Ray Data) and `predict --engine ray`.

The Ray tests run on a local cluster of 2 CPUs and skip, saying why, where Ray is not installed or
cannot start. The model is a tiny real checkpoint, which Ray workers load by path as they would a user's.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from hashtagger.cli import cli

COMMON = ["--format", "jsonl", "-k", "3", "--precision", "fp32", "--device", "cpu", "--quiet"]


def predict(*args: str):
    return CliRunner().invoke(cli, ["predict", *args, *COMMON])


def same_ranking(a: list[dict], b: list[dict], tol: float = 1e-4) -> bool:
    """Same top-k, best first, except that tags scoring within `tol` of each other may swap (near-ties)."""
    return len(a) == len(b) and all(
        x["tag"] == y["tag"] or abs(x["score"] - y["score"]) <= tol for x, y in zip(a, b, strict=True)
    ) and all(abs(x["score"] - y["score"]) <= tol for x, y in zip(a, b, strict=True))  # fmt: skip


@pytest.fixture
def folder(photo_factory, tmp_path: Path) -> Path:
    for i in range(9):
        photo_factory(f"photos/{i:02d}.jpg", seed=i, size=(64 + 8 * i, 48))
    photo_factory("photos/grey.png", seed=30, mode="L")
    (tmp_path / "photos" / "broken.jpg").write_text("not a photo")
    (tmp_path / "photos" / "empty.png").write_bytes(b"")
    return tmp_path / "photos"


def _records(output: str) -> dict[str, dict]:
    return {Path(r["path"]).name: r for r in map(json.loads, output.splitlines())}


def test_predictor_takes_bytes_or_paths_and_fails_rows_alone(tiny_checkpoint: Path, folder: Path) -> None:
    """The callable class alone (no Ray needed): the CLI's hashtags, spread over columns."""
    from hashtagger.ray import COLUMNS, HashtagPredictor

    reference = predict(str(folder), "--model", str(tiny_checkpoint), "--workers", "1")
    expected = _records(reference.stdout)
    predictor = HashtagPredictor(str(tiny_checkpoint), top_k=3, precision="fp32", device="cpu", workers=1)
    names = ["00.jpg", "broken.jpg", "03.jpg", "grey.png"]
    data = [(folder / n).read_bytes() for n in names]
    data[3] = None  # no bytes: read from its path
    batch = {
        "bytes": np.array(data, dtype=object),
        "path": np.array([str(folder / n) for n in names], dtype=object),
        "id": np.arange(4),
    }
    out = predictor(batch)
    assert set(COLUMNS) <= set(out) and "bytes" not in out and list(out["id"]) == [0, 1, 2, 3]
    assert [Path(p).name for p in out["path"]] == names
    for i, name in enumerate(names):
        if name == "broken.jpg":
            assert out["error"][i] == expected[name]["error"] and out["hashtags"][i] == []
            continue
        assert out["error"][i] is None
        got = [{"tag": t, "score": s} for t, s in zip(out["hashtags"][i], out["scores"][i], strict=True)]
        assert same_ranking(got, expected[name]["hashtags"])


def test_engine_ray_without_ray_says_how_to_install_it(
    tiny_checkpoint: Path, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as where Ray is not installed
    r = predict(str(folder), "--model", str(tiny_checkpoint), "--engine", "ray")
    assert r.exit_code == 1
    assert r.stderr.strip() == "Error: --engine ray needs Ray: pip install 'hashtagger[ray]'"


def _closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ray_address_with_nothing_listening_fails_fast_in_one_line(
    tiny_checkpoint: Path, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ray.init retries for minutes against a dead address; the probe answers in one line at once."""
    import time
    import types

    def init(**_: object) -> None:
        time.sleep(30)  # as ray.init does, retrying, against an address where nothing listens
        raise ConnectionError("timed out")

    fake = types.SimpleNamespace(is_initialized=lambda: False, init=init)
    monkeypatch.setitem(sys.modules, "ray", fake)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    address = f"127.0.0.1:{_closed_port()}"
    start = time.monotonic()
    r = predict(str(folder), "--model", str(tiny_checkpoint), "--engine", "ray", "--ray-address", address)
    assert time.monotonic() - start < 15
    assert r.exit_code == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0
    assert f"--ray-address {address}: no Ray cluster answers there" in r.stderr
    monkeypatch.setenv("RAY_ADDRESS", f"ray://{address}")
    r = predict(str(folder), "--model", str(tiny_checkpoint), "--engine", "ray")
    assert r.exit_code == 1 and f"RAY_ADDRESS ray://{address}: no Ray cluster answers" in r.stderr


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'hashtagger[ray]')")
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    except Exception as e:  # noqa: BLE001 - any reason Ray cannot start here is a reason to skip
        pytest.skip(f"a local Ray cluster cannot start here ({type(e).__name__}: {e})")
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_engine_ray_equals_one_process(
    ray_cluster, tiny_checkpoint: Path, folder: Path, tmp_path: Path
) -> None:
    args = [str(folder), str(tmp_path / "missing.jpg"), "--model", str(tiny_checkpoint), "-b", "3"]
    local = predict(*args)
    on_ray = predict(*args, "--engine", "ray")
    assert local.exit_code == on_ray.exit_code == 1  # broken, empty and missing: per photo, at the end
    a, b = (
        [json.loads(x) for x in local.stdout.splitlines()],
        [json.loads(x) for x in on_ray.stdout.splitlines()],
    )
    assert [r["path"] for r in b] == [r["path"] for r in a]  # input order kept across actors and batches
    assert len(b) == 13
    for x, y in zip(a, b, strict=True):
        assert x.get("error") == y.get("error")
        assert same_ranking(x.get("hashtags", []), y.get("hashtags", [])), (x, y)
    assert on_ray.stderr.count("error:") == 3 and "Traceback" not in on_ray.stderr


@pytest.mark.slow
def test_engine_ray_with_a_bad_model_is_one_line(ray_cluster, folder: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage" * 10)
    r = predict(str(folder), "--model", str(bad), "--engine", "ray", "--ray-cpus-per-actor", "2")
    assert r.exit_code == 1 and "bad.pt" in r.stderr
    assert r.stderr.strip().count("\n") == 0 and "Traceback" not in r.stderr


@pytest.mark.slow
def test_ray_data_pipeline(ray_cluster, tiny_checkpoint: Path, folder: Path) -> None:
    """The documented pipeline: read_binary_files -> map_batches(HashtagPredictor) on 2 actors."""
    pytest.importorskip("ray.data", reason="Ray Data is not installed (pip install 'hashtagger[ray]')")
    from hashtagger.ray import HashtagPredictor

    expected = _records(predict(str(folder), "--model", str(tiny_checkpoint)).stdout)
    ds = ray_cluster.data.read_binary_files(str(folder), include_paths=True)
    tagged = ds.map_batches(
        HashtagPredictor,
        fn_constructor_kwargs={
            "model": str(tiny_checkpoint),
            "top_k": 3,
            "precision": "fp32",
            "device": "cpu",
        },
        compute=ray_cluster.data.ActorPoolStrategy(size=2),
        num_cpus=0.5,
        batch_size=4,
    )
    rows = {Path(r["path"]).name: r for r in tagged.take_all()}
    assert set(rows) == set(expected)
    for name, row in rows.items():
        if "error" in expected[name]:
            assert row["error"] == expected[name]["error"] and len(row["hashtags"]) == 0
        else:
            assert row["error"] is None
            got = [{"tag": t, "score": s} for t, s in zip(row["hashtags"], row["scores"], strict=True)]
            assert same_ranking(got, expected[name]["hashtags"]), (name, got, expected[name])
