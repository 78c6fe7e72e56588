"""Build the ONNX graph of the default built-in model that ships in the package, so that a core install
(no PyTorch) tags photos with it on ONNX Runtime.

    python scripts/build_builtin_models.py          # needs the full install: pip install -e '.[test]'

Writes hashtagger/resources/zeroshot.onnx with `hashtagger export`'s own code: the PyTorch model traced,
its vocabulary, preprocessing and ranking rules inside, and the export refused unless its ranked scores
match PyTorch fp32 within 1e-4 at batch 1 and 4. Re-run it whenever the model, its resources or the
export format change (tests/test_builtin_graph.py fails until then).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hashtagger.export.run import export_model  # noqa: E402
from hashtagger.models.zeroshot import SHIPPED_GRAPHS  # noqa: E402
from hashtagger.progress import StderrProgress  # noqa: E402

RES = ROOT / "hashtagger" / "resources"


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=RES, help="folder for the graphs (default: the package's)")
    args = ap.parse_args()
    for name, file in SHIPPED_GRAPHS.items():
        result = export_model(name, "onnx", args.out / file, progress=StderrProgress())
        worst = max(p.max_abs_diff for p in result.parity)
        size = result.path.stat().st_size / 1e6
        print(f"{result.path.name}: {result.tags} tags, {size:.1f} MB, parity max |diff| {worst:.1e}")


if __name__ == "__main__":
    main()
