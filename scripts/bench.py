"""hashtagger's speed and memory, each figure a ratio against a reference measured in the same run.

    python scripts/bench.py            # full run (about 15-25 minutes on 2 cores)
    python scripts/bench.py --quick    # smoke run (3.5 minutes on 2 cores): too few photos for steady
                                       # rates, so its throughput lines fall back to whole-command rates
                                       # (start-up included) and their targets are reported, not judged

The exit status is 1 when any figure missed its target (each such line ends with MISSED).

Every figure times whole processes (wall clock, median of --repeat runs, run in turn A B A B), exactly
as a user meets them. Throughputs (photos/s) are steady-state rates: each command runs on a folder and on
its first quarter, and rate = (photos in folder - photos in quarter) / (time on folder - time on quarter),
so that start-up and model loading, which both sides pay once, do not dilute the ratio. Each printed line ends
with the ratio and its target. Default photos: ../shared/data/clothing-small (real 400x533 JPEGs), plus
copies of a few of them upscaled to Instagram's 1080x1080.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_timing import (
    HASHTAGGER,
    MISSED,
    PY,
    ROOT,
    count,
    judged,
    line,
    make_sets,
    paired,
    predict_cmd,
    steady_rates,
    wall,
)

# A minimal hand-written loop: PIL decode, the same preprocessing, batched forward of the same model
# at the same precision, one JSON line per photo. No worker threads, no draft decoding, no streaming tricks.
MINIMAL_LOOP = r"""
import json, sys, time
import numpy as np
from PIL import Image
from hashtagger.models import load_tagger
folder, precision, batch_size, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
runtime = sys.argv[5] if len(sys.argv) > 5 else "torch"
paths = sorted(str(p) for p in __import__("pathlib").Path(folder).rglob("*.jpg"))
model = load_tagger("zeroshot", runtime=runtime)
model.set_precision(precision)
pre = model.preprocessing
def load(p):
    im = pre.resize_crop(Image.open(p).convert("RGB"))
    return np.asarray(im, dtype=np.uint8).transpose(2, 0, 1)
if mode == "forward":  # forward-only on already-decoded tensors
    x = np.stack([load(p) for p in paths])
    t = time.perf_counter()
    for i in range(0, len(x), batch_size):
        model.score(x[i:i + batch_size])
    print(json.dumps({"forward_per_s": len(x) / (time.perf_counter() - t)}))
    sys.exit()
out = sys.stdout
for i in range(0, len(paths), batch_size):
    chunk = paths[i:i + batch_size]
    scores = model.score(np.stack([load(p) for p in chunk]))
    for p, s in zip(chunk, scores):
        top = np.argsort(-s, kind="stable")[:10]
        tags = [{"tag": model.vocabulary[j], "score": float(s[j])} for j in top]
        out.write(json.dumps({"path": p, "hashtags": tags}) + "\n")
"""

# A minimal hand-written script for one photo on the default runtime: ONNX Runtime on the shipped graph,
# decode, the same centre crop, forward, print the top 10 of its plain blend; no hashtagger code.
ONE_PHOTO = r"""
import sys
from importlib import resources
import numpy as np, onnxruntime as ort
from PIL import Image
path = str(resources.files("hashtagger.resources").joinpath("zeroshot.onnx"))
session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
vocab = __import__("json").loads(session.get_modelmeta().custom_metadata_map["hashtagger.vocabulary"])
im = Image.open(sys.argv[1]).convert("RGB")
w, h = im.size; s = 256 / min(w, h)  # EfficientNet-Lite0's input: short side 256, centre crop 224
im = im.resize((round(w * s), round(h * s)), Image.BICUBIC)
l, t = (im.size[0] - 224) // 2, (im.size[1] - 224) // 2
x = np.asarray(im.crop((l, t, l + 224, t + 224)), dtype=np.uint8).transpose(2, 0, 1)[None]
score = session.run(["scores"], {"images": np.ascontiguousarray(x)})[0][0]
print(" ".join("#" + vocab[i] for i in np.argsort(-score)[:10]))
"""


#: The runtimes figure a runs predict and its minimal loop on: (label, --runtime, --precision).
RUNTIME_RUNS = (("ONNX Runtime", "onnx", "fp32"), ("PyTorch bf16", "torch", "bf16"))


def bench_throughput(
    folder: Path, runtime: tuple[str, str, str], batch: int, repeat: int, work: Path, label: str
) -> float:
    loop = work / "minimal_loop.py"
    name, rt, precision = runtime

    def predict(f: Path) -> list[str]:
        return [*predict_cmd(f, precision, batch), "--runtime", rt]

    def minimal(f: Path) -> list[str]:
        return [PY, str(loop), str(f), precision, str(batch), "loop", rt]

    rates = steady_rates(predict, minimal, folder, repeat)
    rp, rm = rates.a, rates.b
    ratio = rp / rm
    target = 1.3 if label == "1080x1080" else 1.0
    label = f"{label}, {name}"
    line(
        f"a. throughput {label}",
        f"predict {rp:6.1f} photos/s, minimal loop {rm:6.1f} photos/s ({count(folder)} photos)",
        ratio,
        judged(f">={target}", rates),
        ratio >= target or not rates.steady,
    )
    out = subprocess.run(
        [PY, str(loop), str(folder), precision, str(batch), "forward", rt],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    fwd = json.loads(out.stdout)["forward_per_s"]
    line(
        f"a. share of forward-only {label}",
        f"forward-only {fwd:6.1f} photos/s on decoded tensors (2 cores shared)",
        rp / fwd,
        judged(">=0.85", rates),
        rp / fwd >= 0.85 or not rates.steady,
    )
    return rp


def bench_startup(repeat: int) -> None:
    help_cmd = [
        *HASHTAGGER[:1],
        "-c",
        "from hashtagger.cli import main; import sys; sys.argv=['hashtagger','--help']; main()",
    ]
    console = shutil.which("hashtagger", path=str(Path(PY).parent))
    if console:
        help_cmd = [console, "--help"]
    th, tp = paired(help_cmd, [PY, "-c", "pass"], max(repeat, 5))
    line(
        "c. start-up",
        f"hashtagger --help {th * 1000:6.0f} ms, python -c pass {tp * 1000:6.0f} ms",
        th - tp,
        "<=0.15 s",
        th - tp <= 0.15,
    )


def bench_one_photo(photo: Path, repeat: int, work: Path) -> None:
    script = work / "one_photo.py"
    script.write_text(ONE_PHOTO)
    ta, tb = paired([*HASHTAGGER, "predict", str(photo), "--quiet"], [PY, str(script), str(photo)], repeat)
    line(
        "d. one photo end to end",
        f"hashtagger predict {ta:5.2f} s, minimal script {tb:5.2f} s",
        ta / tb,
        "<=1.25",
        ta / tb <= 1.25,
    )
    for rt, target in (("auto", 0.40), ("torch", 1.5)):
        cmd = [*HASHTAGGER, "predict", str(photo), "--quiet", "--runtime", rt]
        tp, ti = paired(cmd, [PY, "-c", "import torch"], repeat)
        line(
            f"d. cold start vs import torch, {rt}",
            f"hashtagger predict {tp:5.2f} s, python -c 'import torch' {ti:5.2f} s",
            tp / ti,
            f"<={target}",
            tp / ti <= target,
        )


def bench_memory(photos: list[Path], n_big: int, n_small: int, work: Path) -> None:
    lists = {}
    for n in (n_small, n_big):
        f = work / f"list_{n}.txt"
        f.write_text("".join(f"{p}\n" for p in (photos * (n // len(photos) + 1))[:n]))
        lists[n] = f
    peaks = {}
    for n in (n_small, n_big):
        cmd = ["sh", "-c", f"exec {PY} -m hashtagger predict - --format jsonl --quiet < {lists[n]}"]
        peaks[n] = wall(cmd)[1]
    ratio = peaks[n_big] / peaks[n_small]
    line(
        "e. memory",
        f"peak RSS {n_big} photos {peaks[n_big] / 1024:6.0f} MiB, {n_small} photos "
        f"{peaks[n_small] / 1024:6.0f} MiB",
        ratio,
        "<=1.15",
        ratio <= 1.15,
    )


def bench_evaluate(folder: Path, repeat: int) -> None:
    """`folder` holds the photos and a labels.csv manifest (all in the validation split)."""

    def evaluate(f: Path) -> list[str]:
        return [*HASHTAGGER, "evaluate", "--model", "zeroshot", "--data", str(f / "labels.csv"),
                "--split", "validation", "--format", "json", "--quiet"]  # fmt: skip

    def predict(f: Path) -> list[str]:
        return predict_cmd(f)

    rates = steady_rates(evaluate, predict, folder, repeat)
    re_, rp = rates.a, rates.b
    line(
        "f. evaluate vs predict",
        f"evaluate {re_:6.1f} photos/s, predict {rp:6.1f} photos/s ({count(folder)} photos)",
        re_ / rp,
        judged(">=0.9", rates),
        re_ / rp >= 0.9 or not rates.steady,
    )


def bench_draft(data: Path, work: Path, n: int) -> None:
    """Effect of draft (DCT-scaled) decoding on the metrics: validation photos upscaled to 1080x1080."""
    import csv
    from dataclasses import replace

    from PIL import Image

    from hashtagger.evaluate.rows import truth_matrix
    from hashtagger.evaluate.run import score_images
    from hashtagger.metrics import ranking_metrics, top_k_indices
    from hashtagger.models import ModelSpec, open_tagger
    from hashtagger.runtime import RunOptions

    rows = [r for r in csv.DictReader(open(data / "labels.csv")) if r["split"] == "validation"][:n]
    labels = sorted({r["label"] for r in rows})
    folder = work / "draft"
    folder.mkdir(exist_ok=True)
    paths = []
    for i, r in enumerate(rows):
        im = Image.open(data / r["path"]).convert("RGB")
        w, h = im.size
        im = im.resize((1080, round(1080 * h / w)), Image.Resampling.BICUBIC)
        paths.append(str(folder / f"{i:04d}.jpg"))
        im.save(paths[-1], quality=90)
    vocab = work / "labels.txt"
    vocab.write_text("\n".join(labels) + "\n")
    run = RunOptions(device="cpu", precision="auto", workers=2)
    tagger = open_tagger(ModelSpec("zeroshot", str(vocab)), run)
    targets = truth_matrix([[r["label"]] for r in rows], labels)
    results = {}
    for draft in (True, False):
        tagger.preprocessing = replace(tagger.preprocessing, draft=draft)
        t = time.perf_counter()
        scores = score_images(tagger, paths).scores
        results[draft] = (scores, ranking_metrics(scores, targets), len(paths) / (time.perf_counter() - t))
    (s_on, m_on, r_on), (s_off, m_off, r_off) = results[True], results[False]
    same1 = float((top_k_indices(s_on, 1) == top_k_indices(s_off, 1)).all(1).mean())
    worst = max(abs(m_on[k] - m_off[k]) * 100 for k in ("accuracy@1", "accuracy@5", "map"))
    detail = "  ".join(f"{k} {m_off[k]:.4f}/{m_on[k]:.4f}" for k in ("accuracy@1", "accuracy@5", "map"))
    line("h. draft decoding, 1080 px", f"{detail}; same top-1 {same1:.1%}; "
         f"{r_off:.0f} -> {r_on:.0f} photos/s", worst, "report", True)  # fmt: skip


def bench_training(quick: bool) -> None:
    script = ROOT / "scripts" / "bench_train.py"
    if not script.exists():
        print("g. training                          scripts/bench_train.py not found: skipped")
        return
    out = subprocess.run(
        [PY, str(script), *(["--quick"] if quick else [])], cwd=ROOT, capture_output=True, text=True
    )
    for text in out.stdout.strip().splitlines()[-3:]:
        print(f"g. training                         {text}")
    if out.returncode != 0:
        MISSED.append("g. training")
        err = (out.stderr.strip().splitlines() or [f"exit status {out.returncode}"])[-1]
        print(f"g. training                         MISSED ({err})")


def bench_ranking(folder: Path, batch: int, repeat: int) -> None:
    """j. The ranking rules (reach tags, diversity; hashtagger.rank) against the forward pass they follow."""
    import numpy as np
    import torch

    from hashtagger.models import load_tagger
    from hashtagger.runtime import cpu_has_fast_bf16

    model = load_tagger("zeroshot", runtime="torch")  # its forward and ranking parts, timed apart
    model.set_precision("bf16" if cpu_has_fast_bf16() else "fp32")
    paths = sorted(folder.rglob("*.jpg"))[:batch]
    x = torch.from_numpy(np.stack([model.preprocessing.load_array(p) for p in paths]))
    forward, blend, ranking = [], [], []
    for _ in range(max(repeat, 3)):
        t = time.perf_counter()
        q = model.visual_scores(x)
        forward.append(time.perf_counter() - t)
        t = time.perf_counter()
        model.blend_scores(q)
        blend.append(time.perf_counter() - t)
        t = time.perf_counter()
        model.rank_content(q)
        ranking.append(time.perf_counter() - t)
    f, b, r = (statistics.median(v) * 1000 for v in (forward, blend, ranking))
    line(
        f"j. ranking rules (batch of {len(paths)})",
        f"forward + ConSE {f:.0f} ms, plain blend {b:.1f} ms, ranking {r:.1f} ms",
        (f + r) / (f + b),
        "report",
        True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "clothing-small")
    ap.add_argument("--quick", action="store_true", help="small sets and one repeat (CI-sized)")
    ap.add_argument("--repeat", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--only", default="abcdefghijk", help="which figures to run, e.g. 'ac'")
    ap.add_argument("--photos", type=int, default=None, help="photos in the small set (a smoke test: 8)")
    args = ap.parse_args()
    if not (args.data / "labels.csv").exists():
        sys.exit(f"{args.data}: clothing-small not found (pass --data PATH)")
    repeat = args.repeat or (1 if args.quick else 3)
    n_small, n_large = (48, 16) if args.quick else (341, 320)
    mem_small, mem_big = (50, 300) if args.quick else (100, 3000)
    if args.photos:
        n_small, n_large = args.photos, max(1, args.photos // 2)
    import platform

    from hashtagger.runtime import cpu_has_fast_bf16

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"AVX-512 BF16/AMX: {cpu_has_fast_bf16()}, python {platform.python_version()}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="hashtagger-bench-") as tmp:
        work = Path(tmp)
        (work / "minimal_loop.py").write_text(MINIMAL_LOOP)
        small, large, photos = make_sets(args.data, work, n_small, n_large)
        if "a" in args.only:
            for runtime in RUNTIME_RUNS:
                bench_throughput(small, runtime, args.batch_size, repeat, work, "small 400x533")
                bench_throughput(large, runtime, args.batch_size, repeat, work, "1080x1080")
        if "k" in args.only:
            from bench_model_cost import bench_model_cost

            bench_model_cost(small, work, repeat, args.batch_size)
        if "b" in args.only:
            from bench_precision import bench_precision

            bench_precision(small, args.data / "labels.csv", args.batch_size, repeat, work)
        if "c" in args.only:
            bench_startup(repeat)
        if "d" in args.only:
            bench_one_photo(photos[0], repeat, work)
        if "e" in args.only:
            bench_memory(photos, mem_big, mem_small, work)
        if "f" in args.only:
            val = work / "validation"
            rows = ["path,split,label"]
            for p in sorted((args.data / "validation").rglob("*.jpg"))[: n_small if args.quick else None]:
                (val / p.parent.name).mkdir(parents=True, exist_ok=True)
                os.symlink(p, val / p.parent.name / p.name)
                rows.append(f"{p.parent.name}/{p.name},validation,{p.parent.name}")
            (val / "labels.csv").write_text("\n".join(rows) + "\n")
            bench_evaluate(val, repeat)
        if "g" in args.only:
            bench_training(args.quick)
        if "h" in args.only:
            bench_draft(args.data, work, n_small if args.quick else 341)
        if "i" in args.only:
            from bench_runtimes import bench_runtimes

            bench_runtimes(args.data, small, photos[0], work, repeat, args.batch_size)
        if "j" in args.only:
            bench_ranking(small, args.batch_size, repeat)
    if MISSED:
        print(f"{len(MISSED)} target(s) missed: {', '.join(MISSED)}", flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
