"""Scale-out figures: one process vs `predict --engine ray` on this machine, as ratios from the same run.

    python scripts/bench_ray.py                 # 681 photos, 3 rounds
    python scripts/bench_ray.py --quick         # 160 photos, 1 round

Each engine runs as a user runs it: a whole `hashtagger predict FOLDER --format jsonl` process (the Ray
runs start their own local cluster), in turn, round after round. The driver process timestamps its own
output: the steady-state rate is the photos written after the first batch over the time they took, so
start-up (Python, Ray's cluster and actors, loading the model) is left out of it and reported apart as
the time to the first result. The driver's overhead per photo is the CPU time of the driver process
itself (all its threads, not the Ray workers) over that same stretch, set against the CPU time one
process spends per photo doing all the work; its inverse bounds the photos/s one driver core can feed.
Photos: ../shared/data/clothing-small (real 400x533 JPEGs).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable

# The CLI in-process, stdout timestamped: wall and process CPU (every thread) at the first and last line.
DRIVER = r"""
import io, json, os, sys, time
start = time.perf_counter()
marks = []
class Marked(io.TextIOBase):
    def __init__(self, raw): self.raw, self.lines = raw, 0
    def write(self, s):
        self.lines += s.count("\n")
        marks.append((time.perf_counter(), time.process_time(), self.lines))
        return self.raw.write(s)
    def flush(self): self.raw.flush()
sys.stdout = Marked(sys.stdout)
from hashtagger.cli import cli
code = 0
try:
    cli.main(args=sys.argv[1:], prog_name="hashtagger")
except SystemExit as e:
    code = e.code or 0
with open(os.environ["BENCH_MARKS"], "w") as f:
    json.dump({"start": start, "marks": [marks[0], marks[-1]] if marks else []}, f)
sys.exit(code)
"""

ENGINES = {
    "1 process": [],
    "ray, 2 actors x 1 CPU": ["--engine", "ray", "--ray-cpus-per-actor", "1"],
    "ray, 1 actor x 2 CPUs": ["--engine", "ray", "--ray-cpus-per-actor", "2"],
}


def run(folder: Path, extra: list[str], work: Path, batch: int) -> dict[str, float]:
    """One `hashtagger predict FOLDER --format jsonl`: steady photos/s, driver CPU ms/photo, start-up s."""
    marks_file = work / "marks.json"
    cmd = [PY, "-c", DRIVER, "predict", str(folder), "-f", "jsonl", "-q", "-b", str(batch), *extra]
    proc = subprocess.run(
        cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "BENCH_MARKS": str(marks_file)},
    )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd[3:])}\n{proc.stderr[-2000:]}")
    got = json.loads(marks_file.read_text())
    (t0, cpu0, _), (t1, cpu1, lines) = got["marks"]
    steady = lines - batch  # the photos written after the first batch
    return {
        "rate": steady / (t1 - t0),
        "driver_ms": 1000 * (cpu1 - cpu0) / steady,
        "first_result_s": t0 - got["start"],
    }


def photo_folder(data: Path, work: Path, n: int) -> Path:
    """`n` real photos as a folder of symlinks."""
    photos = sorted((data / "validation").rglob("*.jpg")) + sorted((data / "train").rglob("*.jpg"))
    if len(photos) < n:
        raise SystemExit(f"{data}: need {n} photos, found {len(photos)}")
    folder = work / "photos"
    folder.mkdir()
    for i, p in enumerate(photos[:n]):
        os.symlink(p, folder / f"{i:05d}.jpg")
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "clothing-small")
    ap.add_argument("--photos", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    try:
        import ray  # noqa: F401
    except ImportError:
        sys.exit("Ray is not installed: pip install -e '.[ray]'")
    n = args.photos or (160 if args.quick else 681)
    rounds = args.rounds or (1 if args.quick else 3)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}")
    results: dict[str, list[dict[str, float]]] = {name: [] for name in ENGINES}
    load = []
    with tempfile.TemporaryDirectory(prefix="hashtagger-bench-ray-") as tmp:
        work = Path(tmp)
        folder = photo_folder(args.data, work, n)
        for _ in range(rounds):
            for name, extra in ENGINES.items():
                load.append(os.getloadavg()[0])
                results[name].append(run(folder, extra, work, args.batch_size))
    med = {
        name: {k: statistics.median(r[k] for r in runs) for k in runs[0]} for name, runs in results.items()
    }
    base = med["1 process"]
    print(
        f"photos: {n}, batch {args.batch_size}, median of {rounds} rounds; "
        f"load average during the runs {min(load):.1f}-{max(load):.1f} on {os.cpu_count()} cores"
    )
    for name, m in med.items():
        print(
            f"{name:<22} {m['rate']:6.1f} photos/s  ratio {m['rate'] / base['rate']:5.2f}  "
            f"first result after {m['first_result_s']:5.1f} s  driver CPU {m['driver_ms']:6.2f} ms/photo"
        )
    for name, m in med.items():
        if name != "1 process":
            d, one = m["driver_ms"], base["driver_ms"]
            print(
                f"driver overhead, {name}: {d:.2f} ms CPU/photo vs {one:.2f} ms for all the work in one "
                f"process: ratio {d / one:.3f}; one driver core feeds at most {1000 / d:.0f} photos/s"
            )


if __name__ == "__main__":
    main()
