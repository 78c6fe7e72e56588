"""Build hashtagger/resources/face_detection.onnx, the face detector behind the people tags, from MediaPipe.

    python scripts/build_people_model.py [--wheel mediapipe-0.10.14-*.whl]

Needs pip access (PyPI) unless --wheel is given. Steps: fetch the mediapipe 0.10.14 wheel (pip download
--no-deps; Apache-2.0), take its BlazeFace short-range model (face_detection_short_range.tflite), convert it
with tflite2onnx in a throwaway virtual environment, and make its batch dimension dynamic (the converter
fixes it at 1: each Reshape's leading 1 becomes 0, "copy the input's"), so one call scores a whole batch.
The result is checked against the fixed-batch conversion before it is written.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import venv
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "hashtagger" / "resources" / "face_detection.onnx"
TFLITE = "mediapipe/modules/face_detection/face_detection_short_range.tflite"


def fetch_wheel(work: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(work), "mediapipe==0.10.14"]
    subprocess.run(cmd, check=True)
    return next(work.glob("mediapipe-0.10.14-*.whl"))


def convert(tflite: Path, work: Path) -> Path:
    """tflite -> ONNX with tflite2onnx, installed in a virtual environment of its own."""
    env = work / "venv"
    venv.create(env, with_pip=True)
    py = env / "bin" / "python"
    subprocess.run([py, "-m", "pip", "install", "-q", "tflite2onnx"], check=True)
    out = work / "fixed.onnx"
    subprocess.run([env / "bin" / "tflite2onnx", str(tflite), str(out)], check=True)
    return out


def dynamic_batch(fixed: Path, out: Path) -> None:
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    model = onnx.load(str(fixed))
    inits = {i.name: i for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Reshape":
            shape = numpy_helper.to_array(inits[node.input[1]]).copy()
            if shape[0] == 1:
                shape[0] = 0
                inits[node.input[1]].CopyFrom(numpy_helper.from_array(shape, node.input[1]))
    del model.graph.value_info[:]
    for port in [*model.graph.input, *model.graph.output]:
        port.type.tensor_type.shape.dim[0].ClearField("dim_value")
        port.type.tensor_type.shape.dim[0].dim_param = "N"
    onnx.checker.check_model(model)
    x = np.random.default_rng(0).uniform(-1, 1, (3, 3, 128, 128)).astype(np.float32)
    one = ort.InferenceSession(str(fixed))
    single = np.concatenate([one.run(None, {"input": x[i : i + 1]})[1] for i in range(3)])
    batched = ort.InferenceSession(model.SerializeToString()).run(None, {"input": x})[1]
    if np.abs(single - batched).max() > 1e-5:
        sys.exit("the dynamic-batch graph does not match the converted one")
    onnx.save(model, str(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wheel", type=Path, help="a mediapipe 0.10.14 wheel already downloaded")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        wheel = args.wheel or fetch_wheel(work)
        tflite = work / "face.tflite"
        tflite.write_bytes(zipfile.ZipFile(wheel).read(TFLITE))
        dynamic_batch(convert(tflite, work), args.out)
    print(f"{args.out}: {args.out.stat().st_size / 1e3:.0f} kB")


if __name__ == "__main__":
    main()
