"""Build the people detectors (hashtagger/resources/people_*.onnx) from mediapipe's Apache-2.0 .tflite files.

Why: the person/face concept needs weights that install offline with the package and run without torch.
mediapipe's wheel carries BlazeFace (face detection, full range) and BlazePose's person detector as .tflite;
this script reads them straight out of the wheel (a zip: nothing is installed) and writes ONNX that
onnxruntime runs. The converter is our own (tflite2onnx knows neither DENSIFY nor NCHW input): it walks the
flatbuffer with the `tflite` package and emits NCHW ONNX nodes for the handful of ops these two graphs use.
Weights stay float16, larger conv kernels int8 per channel (a Cast and Mul that onnxruntime folds at load
time; MSRC-v2 AP moves by under 0.003), so the files stay small.

Run it in a throwaway venv, not the project's (it needs `tflite` and `onnx`; `ai-edge-litert` is optional
and, when present, checks that the ONNX gives the same outputs as the .tflite):

    python3 -m venv /tmp/convvenv && /tmp/convvenv/bin/pip install tflite onnx onnxruntime numpy
    /tmp/convvenv/bin/python scripts/build_people_model.py [--wheel mediapipe-0.10.14-....whl]

Without --wheel it runs `pip download --no-deps mediapipe==0.10.14` into a temporary folder.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import onnx
import tflite
from onnx import TensorProto, helper, numpy_helper

MEDIAPIPE = "mediapipe==0.10.14"
RESOURCES = Path(__file__).resolve().parents[1] / "hashtagger" / "resources"
# name in resources -> (member of the wheel, input size)
MODELS = {
    "people_face.onnx": ("mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite", 192),
    "people_pose.onnx": ("mediapipe/modules/pose_detection/pose_detection.tflite", 224),
    # measured, not shipped: the short-range face model finds far fewer of MSRC-v2's faces (AP 0.73 vs 0.92)
    "people_face_short.onnx": ("mediapipe/modules/face_detection/face_detection_short_range.tflite", 128),
}
NOTICE = "people-NOTICE.txt"
INT8_FROM = 1024  # conv kernels with at least this many weights are stored as int8
OPS = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
ACTIVATIONS = {0: None, 1: ("Relu", {}), 3: ("Clip", (0.0, 6.0)), 2: ("Clip", (-1.0, 1.0))}
NP_TYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 9: np.int8}
NHWC_TO_NCHW_AXIS = {0: 0, 1: 2, 2: 3, 3: 1, -1: 1}


def _index_vector(dm: object, kind: str) -> np.ndarray:
    """The segments or indices of one SPARSE_CSR dimension, whichever integer width they were stored in."""
    table = getattr(dm, f"Array{kind}")()
    vec = {1: tflite.Int32Vector, 2: tflite.Uint16Vector, 3: tflite.Uint8Vector}[
        getattr(dm, f"Array{kind}Type")()
    ]()
    vec.Init(table.Bytes, table.Pos)
    return vec.ValuesAsNumpy().astype(np.int64)


def densify(values: np.ndarray, shape: list[int], sparsity: object) -> np.ndarray:
    """Undo TFLite's sparse storage (identity traversal, no blocks: what pose_detection uses)."""
    order = list(sparsity.TraversalOrderAsNumpy())
    if order != list(range(len(shape))) or sparsity.BlockMapLength():
        raise ValueError("only identity traversal order without blocks is supported")
    out = np.zeros(shape, values.dtype)
    # positions: list of (flat prefix index, next value position) walked dimension by dimension
    prefixes = [0]
    for d in range(len(shape)):
        dm = sparsity.DimMetadata(d)
        if dm.Format() == 0:  # DENSE
            prefixes = [p * shape[d] + i for p in prefixes for i in range(dm.DenseSize())]
        else:
            seg, idx = _index_vector(dm, "Segments"), _index_vector(dm, "Indices")
            prefixes = [
                p * shape[d] + int(idx[j]) for k, p in enumerate(prefixes) for j in range(seg[k], seg[k + 1])
            ]
    out.reshape(-1)[np.asarray(prefixes)] = values
    return out


class Converter:
    """One tflite subgraph -> one ONNX graph with NCHW activations and a dynamic batch."""

    def __init__(self, data: bytes) -> None:
        self.model = tflite.Model.GetRootAsModel(data, 0)
        self.graph = self.model.Subgraphs(0)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.consts: dict[int, np.ndarray] = {}  # tensor index -> value known at build time
        self.names: dict[int, str] = {}  # tensor index -> ONNX value name
        self.count = 0

    def _fresh(self, base: str) -> str:
        self.count += 1
        return f"{base}_{self.count}"

    def shape(self, i: int) -> list[int]:
        return [int(s) for s in self.graph.Tensors(i).ShapeAsNumpy()]

    def buffer(self, i: int) -> np.ndarray | None:
        t = self.graph.Tensors(i)
        raw = self.model.Buffers(t.Buffer()).DataAsNumpy()
        if isinstance(raw, int) or raw.size == 0:
            return None
        values = raw.view(NP_TYPES[t.Type()])
        if t.Sparsity() is not None:
            return values
        return values.reshape(self.shape(i))

    def const(self, i: int) -> np.ndarray | None:
        if i not in self.consts and (value := self.buffer(i)) is not None:
            self.consts[i] = value
        return self.consts.get(i)

    def weight(self, value: np.ndarray, base: str) -> str:
        """An initializer, kept float16 in the file when it came as float16, cast to float at run time."""
        name = self._fresh(base)
        if value.dtype == np.float16 and value.ndim == 4 and value.size >= INT8_FROM:
            # per-output-channel symmetric int8: half the size of float16; Cast and Mul fold at load time
            w = value.astype(np.float32)
            scale = np.maximum(np.abs(w).max(axis=(1, 2, 3), keepdims=True), 1e-12) / 127.0
            self.inits.append(numpy_helper.from_array(np.round(w / scale).astype(np.int8), name + "_q"))
            self.inits.append(numpy_helper.from_array(scale.astype(np.float32), name + "_scale"))
            self.nodes.append(helper.make_node("Cast", [name + "_q"], [name + "_f"], to=TensorProto.FLOAT))
            self.nodes.append(helper.make_node("Mul", [name + "_f", name + "_scale"], [name]))
        elif value.dtype == np.float16:
            self.inits.append(numpy_helper.from_array(value, name + "_f16"))
            self.nodes.append(helper.make_node("Cast", [name + "_f16"], [name], to=TensorProto.FLOAT))
        else:
            self.inits.append(numpy_helper.from_array(value, name))
        return name

    def node(self, op: str, inputs: list[str], out_index: int, act: int = 0, **attrs: object) -> None:
        out = self._fresh(op) if ACTIVATIONS.get(act) else self.out_name(out_index)
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        if (fused := ACTIVATIONS.get(act)) is not None:
            kind, arg = fused
            extra = [self.weight(np.array(a, np.float32), "clip") for a in arg] if arg else []
            self.nodes.append(helper.make_node(kind, [out, *extra], [self.out_name(out_index)]))
        elif act not in ACTIVATIONS:
            raise ValueError(f"fused activation {act} is not supported")

    def out_name(self, i: int) -> str:
        self.names[i] = self.names.get(i) or self._fresh("t")
        return self.names[i]

    def value(self, i: int) -> str:
        """The ONNX name of an input tensor, a 4-D constant turned to NCHW, a 1-D one to [C, 1, 1]."""
        if i in self.names:
            return self.names[i]
        const = self.const(i)
        if const is None:
            raise ValueError(f"tensor {self.graph.Tensors(i).Name()} has no producer")
        if const.ndim == 4:
            const = const.transpose(0, 3, 1, 2)
        elif const.ndim in (1, 3) and const.shape[-1] > 1:
            const = const.reshape(-1, 1, 1)
        self.names[i] = self.weight(np.ascontiguousarray(const), "c")
        return self.names[i]

    def same_pads(
        self, i: int, kernel: tuple[int, int], stride: tuple[int, int], dil: tuple[int, int]
    ) -> list[int]:
        """TensorFlow's SAME padding (the extra pixel goes at the end) as ONNX [top, left, bottom, right]."""
        begin, end = [], []
        for size, k, s, d in zip(self.shape(i)[1:3], kernel, stride, dil, strict=True):
            total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
            begin.append(total // 2)
            end.append(total - total // 2)
        return begin + end

    def conv(self, op: object, ins: list[int], out: int, depthwise: bool) -> None:
        opts = (tflite.DepthwiseConv2DOptions if depthwise else tflite.Conv2DOptions)()
        opts.Init(op.BuiltinOptions().Bytes, op.BuiltinOptions().Pos)
        w = self.const(ins[1])
        w = w.transpose(3, 0, 1, 2) if depthwise else w.transpose(0, 3, 1, 2)
        stride, dil = (opts.StrideH(), opts.StrideW()), (opts.DilationHFactor(), opts.DilationWFactor())
        pads = self.same_pads(ins[0], w.shape[2:], stride, dil) if opts.Padding() == 0 else [0, 0, 0, 0]
        inputs = [self.value(ins[0]), self.weight(np.ascontiguousarray(w), "w")]
        if len(ins) > 2 and ins[2] >= 0:
            inputs.append(self.weight(self.const(ins[2]), "b"))
        group = self.shape(ins[0])[3] if depthwise else 1
        self.node(
            "Conv",
            inputs,
            out,
            opts.FusedActivationFunction(),
            kernel_shape=list(w.shape[2:]),
            strides=list(stride),
            dilations=list(dil),
            pads=pads,
            group=group,
        )

    def emit(self, name: str, op: object, ins: list[int], out: int) -> None:
        """One tflite operator -> ONNX nodes (or a build-time constant)."""
        raw = op.BuiltinOptions()
        if name in ("DEQUANTIZE", "DENSIFY"):
            t = self.graph.Tensors(ins[0])
            value = self.const(ins[0])
            if t.Sparsity() is not None:
                value = densify(value, self.shape(ins[0]), t.Sparsity())
            self.consts[out] = value  # float16 stays float16: weight() stores it so
        elif name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            self.conv(op, ins, out, name == "DEPTHWISE_CONV_2D")
        elif name == "ADD":
            opts = tflite.AddOptions()
            opts.Init(raw.Bytes, raw.Pos)
            self.node("Add", [self.value(ins[0]), self.value(ins[1])], out, opts.FusedActivationFunction())
        elif name == "RELU":
            self.node("Relu", [self.value(ins[0])], out)
        elif name == "PRELU":
            self.node("PRelu", [self.value(ins[0]), self.value(ins[1])], out)
        elif name == "PAD":
            p = self.const(ins[1]).astype(np.int64)[[0, 3, 1, 2]]
            self.node(
                "Pad", [self.value(ins[0]), self.weight(np.concatenate([p[:, 0], p[:, 1]]), "pads")], out
            )
        elif name == "MAX_POOL_2D":
            self.pool(raw, ins, out)
        else:
            self.emit_shape(name, raw, ins, out)

    def pool(self, raw: object, ins: list[int], out: int) -> None:
        opts = tflite.Pool2DOptions()
        opts.Init(raw.Bytes, raw.Pos)
        kernel, stride = (opts.FilterHeight(), opts.FilterWidth()), (opts.StrideH(), opts.StrideW())
        pads = self.same_pads(ins[0], kernel, stride, (1, 1)) if opts.Padding() == 0 else [0, 0, 0, 0]
        self.node(
            "MaxPool",
            [self.value(ins[0])],
            out,
            opts.FusedActivationFunction(),
            kernel_shape=list(kernel),
            strides=list(stride),
            pads=pads,
        )

    def emit_shape(self, name: str, raw: object, ins: list[int], out: int) -> None:
        """The ops that move values around: reshape to the [N, anchors, values] heads, concat, upsampling."""
        if name == "RESHAPE":
            nhwc = self._fresh("nhwc")
            self.nodes.append(helper.make_node("Transpose", [self.value(ins[0])], [nhwc], perm=[0, 2, 3, 1]))
            shape = np.array([-1, *self.shape(out)[1:]], np.int64)
            self.node("Reshape", [nhwc, self.weight(shape, "shape")], out)
        elif name == "CONCATENATION":
            opts = tflite.ConcatenationOptions()
            opts.Init(raw.Bytes, raw.Pos)
            axis = opts.Axis()
            if len(self.shape(out)) == 4:
                axis = NHWC_TO_NCHW_AXIS[axis]
            self.node("Concat", [self.value(i) for i in ins], out, opts.FusedActivationFunction(), axis=axis)
        elif name == "DEPTH_TO_SPACE":
            opts = tflite.DepthToSpaceOptions()
            opts.Init(raw.Bytes, raw.Pos)
            self.node("DepthToSpace", [self.value(ins[0])], out, blocksize=opts.BlockSize(), mode="DCR")
        elif name == "RESIZE_BILINEAR":
            opts = tflite.ResizeBilinearOptions()
            opts.Init(raw.Bytes, raw.Pos)
            mode = (
                "align_corners"
                if opts.AlignCorners()
                else "half_pixel"
                if opts.HalfPixelCenters()
                else "asymmetric"
            )
            size_in, size_out = self.shape(ins[0])[1:3], self.shape(out)[1:3]
            scales = np.array([1, 1, size_out[0] / size_in[0], size_out[1] / size_in[1]], np.float32)
            self.node(
                "Resize",
                [self.value(ins[0]), "", self.weight(scales, "scales")],
                out,
                mode="linear",
                coordinate_transformation_mode=mode,
            )
        else:
            raise ValueError(f"tflite op {name} is not supported by this converter")

    def convert(self) -> onnx.ModelProto:
        g = self.graph
        (inp,) = g.InputsAsNumpy()
        _, h, w, c = self.shape(inp)
        self.names[inp] = "image"
        for k in range(g.OperatorsLength()):
            op = g.Operators(k)
            code = self.model.OperatorCodes(op.OpcodeIndex())
            name = OPS[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
            (out,) = op.OutputsAsNumpy()
            self.emit(name, op, [int(i) for i in op.InputsAsNumpy()], int(out))
        outputs = []
        for i in g.OutputsAsNumpy():
            n_values = self.shape(i)[-1]
            final = "scores" if n_values == 1 else "boxes"
            self.nodes.append(helper.make_node("Identity", [self.names[i]], [final]))
            outputs.append(helper.make_tensor_value_info(final, TensorProto.FLOAT, ["N", *self.shape(i)[1:]]))
        image = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", c, h, w])
        graph = helper.make_graph(self.nodes, "people", [image], outputs, self.inits)
        model = helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="hashtagger"
        )
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model


def check_parity(data: bytes, model: onnx.ModelProto, size: int) -> float | None:
    """Largest |ONNX - tflite| anchor probability on random images, or None without ai-edge-litert."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        return None
    import onnxruntime as ort

    x = np.random.default_rng(0).uniform(-1, 1, (2, size, size, 3)).astype(np.float32)
    interp = Interpreter(model_content=data)
    interp.allocate_tensors()
    ref = []
    for image in x:
        interp.set_tensor(interp.get_input_details()[0]["index"], image[None])
        interp.invoke()
        ref.append(
            {tuple(d["shape"])[-1]: interp.get_tensor(d["index"]) for d in interp.get_output_details()}
        )
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (scores,) = sess.run(["scores"], {"image": x.transpose(0, 3, 1, 2)})

    def prob(logits: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-np.clip(logits.astype(np.float64), -100, 100)))

    diff = [np.abs(prob(scores[k]) - prob(r[1][0])).max() for k, r in enumerate(ref)]
    return float(max(diff))


def wheel_path(given: str | None, tmp: str) -> Path:
    if given:
        return Path(given)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", MEDIAPIPE, "-d", tmp]
    subprocess.run(cmd, check=True)
    return next(Path(tmp).glob("mediapipe-*.whl"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", help=f"a downloaded {MEDIAPIPE} wheel (default: pip download it)")
    parser.add_argument("--out", default=str(RESOURCES), help="folder for the ONNX files and the NOTICE")
    parser.add_argument(
        "--models",
        default="people_face.onnx",
        help=f"which of {','.join(MODELS)} (the package ships the face)",
    )
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(wheel_path(args.wheel, tmp)) as wheel:
        licence = wheel.read(next(n for n in wheel.namelist() if n.endswith(".dist-info/LICENSE")))
        for name in args.models.split(","):
            member, size = MODELS[name]
            data = wheel.read(member)
            model = Converter(data).convert()
            diff = check_parity(data, model, size)
            target = out / name
            target.write_bytes(model.SerializeToString())
            shown = (
                "not checked (ai-edge-litert missing)"
                if diff is None
                else f"max |probability diff| {diff:.3f}"
            )
            print(
                f"{target}: {target.stat().st_size} bytes from {member} ({len(data)} bytes), parity {shown}"
            )
    header = (
        "hashtagger/resources/people_*.onnx are converted by scripts/build_people_model.py from the\n"
        f".tflite models in the {MEDIAPIPE} wheel (https://github.com/google/mediapipe), Copyright\n"
        "The MediaPipe Authors, licensed under the Apache License, Version 2.0 (text below).\n"
        "Changes: the graphs were converted to ONNX with NCHW input; small weights stay float16,\n"
        "conv kernels of 1024 weights or more are stored as per-channel int8.\n"
        + "".join(f"  {name}  <- {MODELS[name][0]}\n" for name in args.models.split(","))
        + "\n"
    )
    (out / NOTICE).write_text(header + licence.decode("utf-8"), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
