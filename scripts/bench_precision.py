"""Figure b of scripts/bench.py: bf16 against fp32 on the same photos, in the same run: speed, whether
the top 1 and top 5 stay the same, and evaluate's metrics on clothing-small's validation split."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from bench_timing import HASHTAGGER, ROOT, line, predict_cmd, steady_rates, wall


def _top_sets(path: Path, k: int) -> dict[str, tuple[str, ...]]:
    return {
        r["path"]: tuple(h["tag"] for h in r["hashtags"][:k])
        for r in map(json.loads, path.read_text().splitlines())
    }


def bench_precision(folder: Path, labels_csv: Path, batch: int, repeat: int, work: Path) -> None:
    runs = {}
    for prec in ("fp32", "bf16"):
        out = work / f"pred_{prec}.jsonl"
        wall(predict_cmd(folder, prec, batch), out)
        runs[prec] = out
    r32, r16, _ = steady_rates(
        lambda f: predict_cmd(f, "fp32", batch),
        lambda f: predict_cmd(f, "bf16", batch),
        folder,
        repeat,
    )
    a1, b1 = _top_sets(runs["fp32"], 1), _top_sets(runs["bf16"], 1)
    a5, b5 = _top_sets(runs["fp32"], 5), _top_sets(runs["bf16"], 5)
    same1 = sum(a1[p] == b1[p] for p in a1) / len(a1)
    same5 = sum(set(a5[p]) == set(b5[p]) for p in a5) / len(a5)
    line(
        "b. bf16 speed-up",
        f"fp32 {r32:6.1f}, bf16 {r16:6.1f} photos/s; same top-1 {same1:.1%}, same top-5 set {same5:.1%}",
        r16 / r32,
        "report",
        True,
    )
    metrics = {}
    for prec in ("fp32", "bf16"):
        out = subprocess.run(
            [
                *HASHTAGGER,
                "evaluate",
                "--model",
                "zeroshot",
                "--data",
                str(labels_csv),
                "--split",
                "validation",
                "--format",
                "json",
                "--quiet",
                "--precision",
                prec,
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        rows = {m["model"]: m["metrics"] for m in json.loads(out)["models"]}
        metrics[prec] = rows["zeroshot"]
    worst = max(
        abs(metrics["bf16"][k] - metrics["fp32"][k]) * 100 for k in ("accuracy@1", "accuracy@5", "map")
    )
    detail = "  ".join(
        f"{k} {metrics['fp32'][k]:.4f}/{metrics['bf16'][k]:.4f}" for k in ("accuracy@1", "accuracy@5", "map")
    )
    line("b. metrics fp32/bf16 (clothing val)", detail, worst, "<=1 pt", worst <= 1.0)
