"""Where and how models run, decided in this one place: device, numeric precision, CPU cores and threads.

The CLI builds one frozen `RunOptions` from its options and passes it down; `prepare` applies it to a
loaded model; `autocast` / `autocast_dtype` are the one mapping from a precision name to torch's dtype;
`onnx_session` is how every ONNX graph (an export, the shipped detectors) gets its CPU session.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hashtagger.choices import DEVICES, PRECISIONS
from hashtagger.errors import CheckpointError, InputError, MissingDependencyError, first_line

if TYPE_CHECKING:
    from hashtagger.models.base import Tagger


def cpu_cores() -> int:
    """Cores this process may run on (its affinity mask, not the machine's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def decode_threads(device: str | None = None) -> int:
    """Photo-decoding threads beside a model on `device` (Pillow releases the GIL while it decodes).

    With the model on the CPU the threads share its cores with the forward pass and evict the caches
    it relies on: measured on 2 cores, decoding in the calling thread (0) gave 94-101 photos/s, one
    thread 79, two 78-83. So one thread per 4 cores there; with the model on an accelerator (or none,
    `device=None`), one per core, at most 8.
    """
    cores = cpu_cores()
    if device is not None and device_type(device) not in ("cuda", "mps"):
        return cores // 4
    return max(1, min(8, cores))


#: Photos per forward pass on the CPU. A batch of 32 overflows the caches (EfficientNet-Lite0's first
#: blocks hold 77 MB of bf16 activations) and the element-wise layers then wait on memory: measured on
#: 2 cores, 107 photos/s in one pass of 32 and 153 in passes of 8 at bf16, 77 and 102 at fp32.
CPU_FORWARD_PHOTOS = 8


def cpu_passes(photos: int) -> list[slice]:
    """The slices of a batch that run one forward pass each on the CPU (torch or an exported model);
    an empty batch is one empty pass, so the model still answers with its (0, V) shape."""
    return [slice(i, i + CPU_FORWARD_PHOTOS) for i in range(0, photos, CPU_FORWARD_PHOTOS)] or [slice(0, 0)]


def forward(module: Any, x: Any, device: str) -> Any:
    """module(x), in passes of CPU_FORWARD_PHOTOS on the CPU and in one pass on an accelerator."""
    if device_type(device) != "cpu" or len(x) <= CPU_FORWARD_PHOTOS:
        return module(x)
    import torch

    return torch.cat([module(x[part]) for part in cpu_passes(len(x))])


@dataclass(frozen=True)
class RunOptions:
    """How a model runs over photos: built once by the CLI (`options.run_options`), passed down unchanged."""

    device: str = "auto"
    precision: str = "auto"
    batch_size: int = 32
    workers: int | None = None  # decoding threads; None: decode_threads(device the model runs on)
    quiet: bool = False
    runtime: str = "auto"  # one of RUNTIMES

    def wants_torch(self) -> bool:
        """Whether `auto` must pick PyTorch: an accelerator or a half precision was asked for."""
        return self.runtime == "torch" or (
            self.runtime == "auto" and (self.device in ("cuda", "mps") or self.precision in ("bf16", "fp16"))
        )

    def decode_workers(self, device: str) -> int:
        """The decoding threads to start beside a model on `device` (0 = decode in the calling thread)."""
        return decode_threads(device) if self.workers is None else self.workers


DEFAULT_RUN = RunOptions()


def prepare(tagger: Tagger, run: RunOptions) -> str:
    """Move a loaded model to its device, set its precision and torch's threads; returns the device.

    Exported models (ONNX Runtime, OpenVINO) choose their own device and precision, without torch.
    """
    if not tagger.uses_torch:
        tagger.to(run.device)
        tagger.set_precision(run.precision)
        tagger.device = "cpu"
        return run.device
    dev = resolve_device(run.device)
    tagger.to(dev)
    auto = run.precision == "auto" and dev == "cpu" and tagger.cpu_auto_precision is not None
    tagger.set_precision(tagger.cpu_auto_precision if auto else resolve_precision(run.precision, dev))
    configure_threads(run.decode_workers(dev))
    tagger.device = dev
    return dev


def resolve_device(device: str = "auto") -> str:
    """'auto' picks cuda, then mps, then cpu; an explicit device that is missing is an error."""
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA GPU is available (use --device cpu)")
    if device == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise InputError("--device mps: Apple MPS is not available (use --device cpu)")
    if device not in DEVICES:
        raise InputError(f"--device {device}: choose one of {', '.join(DEVICES)}")
    return device


@lru_cache(maxsize=1)
def cpu_has_fast_bf16() -> bool:
    """True on CPUs with AVX-512 BF16 or AMX, where bf16 autocast is much faster than fp32."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as f:
            flags = f.read()
    except OSError:
        return False
    return any(flag in flags for flag in ("avx512_bf16", "amx_bf16"))


def resolve_precision(precision: str, device: str) -> str:
    """'auto': bf16 where the hardware runs it fast (benchmarked: metrics within 1 point), else fp32."""
    if precision not in PRECISIONS:
        raise InputError(f"--precision {precision}: choose one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    if device == "cuda":
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if device == "cpu":
        return "bf16" if cpu_has_fast_bf16() else "fp32"
    return "fp32"


def autocast_dtype(precision: str) -> Any:
    """'bf16' -> torch.bfloat16, 'fp16' -> torch.float16, anything else -> None (fp32, no autocast)."""
    if precision not in ("bf16", "fp16"):
        return None
    import torch

    return torch.bfloat16 if precision == "bf16" else torch.float16


def device_type(device: str) -> str:
    """'cuda:1' -> 'cuda': what torch.autocast wants."""
    return device.split(":", 1)[0]


@contextlib.contextmanager
def autocast(device: str, precision: str) -> Iterator[None]:
    """Autocast for bf16/fp16 on `device`, nothing for fp32."""
    dtype = autocast_dtype(precision)
    if dtype is None:
        yield
        return
    import torch

    with torch.autocast(device_type=device_type(device), dtype=dtype):
        yield


def configure_threads(workers: int) -> None:
    """Leave decoding workers their cores: torch gets the rest (at least one)."""
    import torch

    cores = cpu_cores()
    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(max(1, cores - (workers if workers > 0 else 0)) if cores > 2 else cores)


def onnx_session(path: Path) -> Any:
    """An ONNX Runtime session on the CPU, quiet; a damaged file is one line naming it."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise MissingDependencyError(
            f"{path}: running an ONNX model needs ONNX Runtime: pip install 'hashtagger[onnx]'"
        ) from None
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    # The model and its detectors run in turn: idle threads that spin between runs only take the cores
    # from the next session.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001 - a damaged file is a one-line user error
        raise CheckpointError(f"{path}: not a readable ONNX model ({first_line(e)})") from None
