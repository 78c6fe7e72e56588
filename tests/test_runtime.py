"""How a model runs: decoding threads beside it and the size of its forward passes."""

from __future__ import annotations

import pytest
import torch

from hashtagger import runtime
from hashtagger.runtime import CPU_FORWARD_PHOTOS, RunOptions, decode_threads, forward


@pytest.mark.parametrize(("cores", "cpu", "accelerator"), [(1, 0, 1), (2, 0, 2), (4, 1, 4), (16, 4, 8)])
def test_decoding_threads_leave_the_cpu_to_the_model(
    monkeypatch: pytest.MonkeyPatch, cores: int, cpu: int, accelerator: int
) -> None:
    monkeypatch.setattr(runtime, "cpu_cores", lambda: cores)
    assert decode_threads("cpu") == cpu  # the forward pass needs the cores (and their caches)
    assert decode_threads("cuda:0") == decode_threads("mps") == accelerator
    assert decode_threads() == accelerator  # no model beside: decode on every core, at most 8
    assert RunOptions(workers=3).decode_workers("cpu") == 3  # --workers wins
    assert RunOptions().decode_workers("cpu") == cpu


class Recorder(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.sizes: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.sizes.append(len(x))
        return self.conv(x).mean(dim=(2, 3))


def test_forward_runs_cache_sized_passes_on_the_cpu_with_the_same_scores() -> None:
    torch.manual_seed(0)
    net, x = Recorder().eval(), torch.randn(19, 3, 12, 12)
    with torch.inference_mode():
        whole = net(x)
        net.sizes.clear()
        parts = forward(net, x, "cpu")
    assert net.sizes == [CPU_FORWARD_PHOTOS, CPU_FORWARD_PHOTOS, 19 - 2 * CPU_FORWARD_PHOTOS]
    assert parts.shape == whole.shape and torch.allclose(parts, whole, atol=1e-6)
    net.sizes.clear()
    with torch.inference_mode():
        forward(net, x, "cuda")  # an accelerator takes the batch whole (no GPU needed: the stub runs here)
    assert net.sizes == [19]
