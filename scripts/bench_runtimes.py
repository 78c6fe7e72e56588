"""Figure i of scripts/bench.py: the runtimes side by side on the same photos, in the same run.

PyTorch (bf16 and fp32) against the exports: ONNX Runtime fp32 and int8, OpenVINO fp32 and bf16 (int8
is made for ONNX only: OpenVINO's int8 moved the metrics by 2-18 points, see export/formats.py).
Each runtime gets the steady-state throughput of `hashtagger predict` (photos/s, ratio against PyTorch
bf16), the wall time of tagging one photo end to end (a fresh process, ratio against PyTorch), and the
change of Accuracy@1, Accuracy@5 and mAP on clothing-small validation against PyTorch fp32 (worst of the
three, in points; budget 1 point). Every model is the zero-shot model over clothing-small's vocabulary,
so the metrics are comparable and the throughputs come from one and the same scoring path.
"""

from __future__ import annotations

import json
import statistics
import subprocess
from pathlib import Path

from bench_timing import HASHTAGGER, MIN_GAP_S, ROOT, count, head_of, line, wall


def _export(work: Path, vocab: Path, calib: Path) -> dict[str, Path]:
    out = {"onnx": work / "zs.onnx", "ov": work / "zs-ov", "onnx-int8": work / "zs-int8.onnx"}
    base = [*HASHTAGGER, "export", "zeroshot", "--vocab", str(vocab), "-q"]
    int8 = ["--precision", "int8", "--calibration", str(calib)]
    for key, extra in (("onnx", []), ("ov", ["-f", "openvino"]), ("onnx-int8", int8)):
        wall([*base, "-o", str(out[key]), *extra])
    return out


def _runtimes(models: dict[str, Path], vocab: Path) -> list[tuple[str, list[str]]]:
    """(label, predict arguments selecting model and precision)."""
    torch_model = ["-m", "zeroshot", "--vocab", str(vocab)]
    return [
        ("PyTorch bf16", [*torch_model, "--precision", "bf16"]),
        ("PyTorch fp32", [*torch_model, "--precision", "fp32"]),
        ("ONNX Runtime fp32", ["-m", str(models["onnx"])]),
        ("ONNX Runtime int8", ["-m", str(models["onnx-int8"])]),
        ("OpenVINO fp32", ["-m", str(models["ov"])]),
        ("OpenVINO bf16", ["-m", str(models["ov"]), "--precision", "bf16"]),
    ]


def _rates(runtimes: list[tuple[str, list[str]]], full: Path, repeat: int, batch: int) -> dict[str, float]:
    """Steady-state photos/s of every runtime, all run in turn on the folder and on its first quarter."""
    head = full.with_name(full.name + "_head")
    if not head.exists():
        head_of(full)

    def cmd(args: list[str], folder: Path) -> list[str]:
        return [*HASHTAGGER, "predict", str(folder), "-f", "jsonl", "-q", "-b", str(batch), *args]

    for _, args in runtimes:
        wall(cmd(args, head))
    times: dict[tuple[str, Path], list[float]] = {}
    for _ in range(repeat):
        for folder in (head, full):
            for label, args in runtimes:
                times.setdefault((label, folder), []).append(wall(cmd(args, folder))[0])
    med = {k: statistics.median(v) for k, v in times.items()}
    n = count(full) - count(head)
    rates = {}
    for label, _ in runtimes:
        gap = med[(label, full)] - med[(label, head)]
        rates[label] = n / gap if gap >= MIN_GAP_S else count(full) / med[(label, full)]
    return rates


def _one_photo(runtimes: list[tuple[str, list[str]]], photo: Path, repeat: int) -> dict[str, float]:
    """Median wall time of `hashtagger predict PHOTO` per runtime (default precision), run in turn."""
    chosen = [
        (label, [a for a in args if a not in ("--precision", "bf16", "fp32")]) for label, args in runtimes
    ]
    chosen = [
        c
        for c in chosen
        if c[0] in ("PyTorch bf16", "ONNX Runtime fp32", "ONNX Runtime int8", "OpenVINO fp32")
    ]
    times: dict[str, list[float]] = {}
    for _ in range(repeat + 1):
        for label, args in chosen:
            times.setdefault(label, []).append(wall([*HASHTAGGER, "predict", str(photo), "-q", *args])[0])
    return {label: statistics.median(v[1:]) for label, v in times.items()}


def _metrics(runtimes: list[tuple[str, list[str]]], labels_csv: Path) -> dict[str, dict[str, float]]:
    out = {}
    for label, args in runtimes:
        cmd = [
            *HASHTAGGER,
            "evaluate",
            "--data",
            str(labels_csv),
            "--split",
            "validation",
            "-f",
            "json",
            "-q",
        ]
        args = [
            a for a in args if a != "--vocab" and not a.endswith("vocab.txt")
        ]  # evaluate: the data's vocab
        if "--precision" not in args:
            args = [*args, "--precision", "fp32"]
        text = subprocess.run([*cmd, *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout
        out[label] = json.loads(text)["models"][0]["metrics"]
    return out


#: Photos for the throughput part: enough that even the fastest runtime takes seconds more on the whole
#: folder than on its first quarter, so that every rate is a steady-state rate (start-up cancels out).
RUNTIME_PHOTOS = 1024


def _photo_set(data: Path, work: Path, n: int) -> Path:
    folder = work / "runtimes"
    photos = sorted((data / "validation").rglob("*.jpg")) + sorted((data / "train").rglob("*.jpg"))
    for i, p in enumerate(photos[:n]):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i:05d}.jpg").symlink_to(p)
    return folder


def bench_runtimes(data: Path, small: Path, photo: Path, work: Path, repeat: int, batch: int) -> None:
    """`small` is used as it is when it is a smoke-test set (under 100 photos), else RUNTIME_PHOTOS photos."""
    if count(small) >= 100:
        small = _photo_set(data, work, RUNTIME_PHOTOS)
    vocab = work / "clothing_vocab.txt"
    from hashtagger.data import load_dataset

    vocab.write_text("".join(f"{t}\n" for t in load_dataset(data / "labels.csv").vocabulary()))
    calib = work / "calibration"
    calib.mkdir(exist_ok=True)
    train = sorted((data / "train").rglob("*.jpg"))
    for i, p in enumerate(train[:: max(1, len(train) // 64)][:64]):  # spread over every class
        (calib / f"{i:03d}.jpg").symlink_to(p)
    runtimes = _runtimes(_export(work, vocab, calib), vocab)
    rates = _rates(runtimes, small, repeat, batch)
    ref = rates["PyTorch bf16"]
    for label, _ in runtimes:
        detail = f"{rates[label]:6.1f} photos/s ({count(small)} photos, vs PyTorch bf16)"
        line(f"i. throughput {label}", detail, rates[label] / ref, "report", True)
    walls = _one_photo(runtimes, photo, repeat)
    for label, t in walls.items():
        detail = f"hashtagger predict one photo {t:5.2f} s (vs PyTorch)"
        line(f"i. one photo {label}", detail, t / walls["PyTorch bf16"], "report", True)
    metrics = _metrics(runtimes, data / "labels.csv")
    keys = ("accuracy@1", "accuracy@5", "map")
    base = metrics["PyTorch fp32"]
    for label, _ in runtimes:
        if label == "PyTorch fp32":
            continue
        worst = max(abs(metrics[label][k] - base[k]) * 100 for k in keys)
        detail = "  ".join(f"{k} {metrics[label][k]:.4f}" for k in keys)
        line(
            f"i. metrics {label}", f"{detail} (fp32 {base['accuracy@1']:.4f})", worst, "<=1 pt", worst <= 1.0
        )
