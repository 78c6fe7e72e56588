"""How scripts/bench.py and its figure modules time commands: whole processes, run in turn, as ratios.

Every figure times whole processes (wall clock, median of runs taken in turn A B A B) and reports one
`line`: the ratio, its target and whether it was met; `MISSED` collects the figures that were not, for
bench.py's exit status. Throughputs are steady-state rates (`steady_rates`, see bench.py's docstring).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
HASHTAGGER = [PY, "-m", "hashtagger"]


def wall(
    cmd: list[str], stdout_path: Path | None = None, env: dict[str, str] | None = None
) -> tuple[float, int]:
    """Run a command; return (wall seconds, peak RSS in KiB of that process)."""
    out = open(stdout_path, "w") if stdout_path else subprocess.DEVNULL  # noqa: SIM115
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    if stdout_path:
        out.close()
    if proc.returncode != 0:
        raise SystemExit(f"benchmark command failed ({proc.returncode}): {' '.join(cmd)}")
    return elapsed, usage.ru_maxrss


def paired(a: list[str], b: list[str], repeat: int) -> tuple[float, float]:
    """Median wall time of A and of B, run in turn A B A B ... after one warm-up each."""
    wall(a)
    wall(b)
    ta, tb = [], []
    for _ in range(repeat):
        ta.append(wall(a)[0])
        tb.append(wall(b)[0])
    return statistics.median(ta), statistics.median(tb)


def predict_cmd(folder: Path, precision: str = "auto", batch: int = 32) -> list[str]:
    """`hashtagger predict FOLDER --format jsonl --quiet` at a given precision and batch size."""
    return [
        *HASHTAGGER,
        "predict",
        str(folder),
        "-f",
        "jsonl",
        "-q",
        "--precision",
        precision,
        "-b",
        str(batch),
    ]


def count(folder: Path) -> int:
    return sum(1 for _ in folder.rglob("*.jpg"))


def head_of(folder: Path, fraction: float = 0.25) -> Path:
    """A sibling folder with the first `fraction` of the photos (symlinks), for steady-state rates."""
    head = folder.with_name(folder.name + "_head")
    photos = sorted(folder.rglob("*.jpg"))
    for p in photos[: max(1, int(len(photos) * fraction))]:
        dst = head / p.relative_to(folder)
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(p.resolve(), dst)
    for extra in folder.glob("*.csv"):
        rows = extra.read_text().splitlines()
        keep = {str(p.relative_to(head)) for p in head.rglob("*.jpg")}
        (head / extra.name).write_text(
            "\n".join([rows[0], *[r for r in rows[1:] if r.split(",")[0] in keep]]) + "\n"
        )
    return head


MIN_GAP_S = 1.0  # a steady rate needs the larger folder to take at least this much longer


class Rates(NamedTuple):
    a: float
    b: float
    steady: bool  # False: whole-command rates (too few photos), so targets are reported, not judged


def judged(target: str, rates: Rates) -> str:
    """The target as printed: a whole-command rate is start-up dominated, so its target is only reported."""
    return target if rates.steady else "report"


def steady_rates(cmd_a, cmd_b, full: Path, repeat: int) -> Rates:  # noqa: ANN001
    """Photos/s of A and of B once started (see the module docstring), run in turn A B A B."""
    head = full.with_name(full.name + "_head")
    if not head.exists():
        head_of(full)
    n = count(full) - count(head)
    times: dict[tuple[str, Path], list[float]] = {}
    wall(cmd_a(head))
    wall(cmd_b(head))
    for _ in range(repeat):
        for folder in (head, full):
            for name, cmd in (("a", cmd_a), ("b", cmd_b)):
                times.setdefault((name, folder), []).append(wall(cmd(folder))[0])
    med = {k: statistics.median(v) for k, v in times.items()}
    gap_a = med[("a", full)] - med[("a", head)]
    gap_b = med[("b", full)] - med[("b", head)]
    if min(gap_a, gap_b) < MIN_GAP_S:
        # Too few photos (e.g. --quick) for the difference to rise above the noise: fall back to
        # whole-command rates, which include start-up, and say so.
        print(
            f"   note: under {MIN_GAP_S:.0f} s between {head.name} and {full.name}: whole-command rates, "
            "targets reported only"
        )
        return Rates(count(full) / med[("a", full)], count(full) / med[("b", full)], False)
    return Rates(n / gap_a, n / gap_b, True)


#: Names of the figures that missed their target in this run; the exit status is 1 when any did.
MISSED: list[str] = []


def line(name: str, detail: str, ratio: float, target: str, ok: bool) -> None:
    if not ok:
        MISSED.append(name)
    print(
        f"{name:<34} {detail:<62} ratio {ratio:6.3f}  target {target:<7} {'ok' if ok else 'MISSED'}",
        flush=True,
    )


def make_sets(data: Path, work: Path, n_small: int, n_large: int) -> tuple[Path, Path, list[Path]]:
    from PIL import Image

    photos = sorted((data / "validation").rglob("*.jpg")) + sorted((data / "train").rglob("*.jpg"))
    if len(photos) < n_small:
        raise SystemExit(f"{data}: need {n_small} photos, found {len(photos)}")
    small, large = work / "small", work / "large"
    for p in photos[:n_small]:
        dst = small / p.parent.name / p.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(p, dst)
    large.mkdir(parents=True, exist_ok=True)
    for i, p in enumerate(photos[:n_large]):
        im = Image.open(p).convert("RGB")
        side = min(im.size)
        im = im.crop((0, 0, side, side)).resize((1080, 1080), Image.Resampling.BICUBIC)
        im.save(large / f"ig_{i:04d}.jpg", quality=90)
    return small, large, photos
