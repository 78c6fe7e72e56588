"""`HashtagPredictor`: the predict pipeline as a callable class, for Ray Data and the `--engine ray` workers.

Ray Data's batch-inference pattern is `ds.map_batches(Class, fn_constructor_kwargs=..., concurrency=N)`;
the constructor runs once per actor, so the model loads once; `__call__` runs once per batch. Both go through
the same decoding, scoring and hashtag selection as `hashtagger predict` (`predict_paths`), so a photo gets
the same hashtags on every engine. Nothing here imports Ray: the class works on plain dicts of columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from hashtagger.predict.pipeline import Encoded, Failed
from hashtagger.predict.predictions import Prediction

if TYPE_CHECKING:
    from hashtagger.models.spec import ModelSpec
    from hashtagger.predict.hashtags import Selection
    from hashtagger.runtime import RunOptions

#: Output columns, the CLI's JSON record spread over columns: hashtags and scores are aligned lists.
COLUMNS = ("path", "hashtags", "scores", "error")


def assigned_cpus() -> int | None:
    """CPUs Ray gave the current actor or task (None outside Ray), to size decoding threads."""
    try:
        import ray
    except ImportError:
        return None
    if not ray.is_initialized():
        return None
    try:
        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
    except Exception:  # noqa: BLE001 - a driver, or an older Ray: fall back to the machine's cores
        return None
    return max(1, int(cpus)) if cpus else None


class HashtagPredictor:
    """Tags batches of photos with one model loaded once (per Ray actor, or per process).

    `model`: a built-in model name or a checkpoint path, as `--model`. The other arguments are
    `predict`'s options. Batches are dicts of columns: `bytes` (photo contents, as
    `ray.data.read_binary_files` gives) and/or `path` (read from the file system when there are no
    bytes). The result has the columns `path`, `hashtags` (tags, best first, no '#'), `scores` (aligned
    with `hashtags`) and `error` (None, or one line saying why that photo failed), plus every input
    column other than `bytes`.
    """

    def __init__(
        self,
        model: str = "zeroshot",
        *,
        top_k: int = 10,
        threshold: float | None = None,
        use_calibration: bool = True,
        vocab: str | None = None,
        prior_weight: float | None = None,
        device: str = "auto",
        precision: str = "auto",
        workers: int | None = None,
        runtime: str = "auto",
    ) -> None:
        from hashtagger.models.spec import ModelSpec
        from hashtagger.predict.hashtags import Selection
        from hashtagger.runtime import RunOptions

        self._open(
            ModelSpec(model, vocab, prior_weight),
            Selection(top_k, threshold, use_calibration),
            RunOptions(device=device, precision=precision, workers=workers, runtime=runtime),
        )

    @classmethod
    def opened(cls, spec: ModelSpec, selection: Selection, run: RunOptions) -> HashtagPredictor:
        """The predictor for the CLI's own values (the `--engine ray` actors), without unpacking them."""
        predictor = cls.__new__(cls)
        predictor._open(spec, selection, run)
        return predictor

    def _open(self, spec: ModelSpec, selection: Selection, run: RunOptions) -> None:
        import dataclasses

        from hashtagger.models import open_tagger
        from hashtagger.runtime import decode_threads

        cpus = assigned_cpus()
        self.workers = run.workers if run.workers is not None else (cpus or decode_threads())
        self.tagger = open_tagger(spec, dataclasses.replace(run, workers=self.workers))
        self.device = self.tagger.device
        if cpus is not None and self.tagger.uses_torch:
            import torch

            torch.set_num_threads(cpus)  # the CPUs Ray reserved for this actor, not the whole node's
        self.selection = selection

    def predict(self, items: Sequence[str | Encoded | Failed]) -> list[Prediction]:
        """Predictions for paths (read here) or in-memory photos, in order; one bad photo fails alone."""
        import dataclasses

        from hashtagger.predict.hashtags import predict_paths

        return list(
            predict_paths(
                self.tagger,
                items,
                **dataclasses.asdict(self.selection),
                batch_size=max(1, len(items)),
                workers=min(self.workers, max(1, len(items))),
            )
        )

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        """A Ray Data batch (dict of columns) -> the same rows with path, hashtags, scores, error."""
        items = batch_items(batch)
        out = predictions_to_columns(self.predict(items))
        for name, column in batch.items():
            if name != "bytes" and name not in out:
                out[name] = column
        return out


def batch_items(batch: dict[str, Any]) -> list[str | Encoded | Failed]:
    """One pipeline item per row: the row's bytes when present, else its path."""
    data = batch.get("bytes")
    paths = batch.get("path")
    if data is None and paths is None:
        raise KeyError("a batch needs a 'bytes' or a 'path' column (ray.data.read_binary_files gives both)")
    n = len(data) if data is not None else len(paths)  # type: ignore[arg-type]
    items: list[str | Encoded | Failed] = []
    for i in range(n):
        name = str(paths[i]) if paths is not None and paths[i] is not None else f"row {i}"
        content = data[i] if data is not None else None
        if content is not None:
            items.append(Encoded(name, bytes(content)))
        elif paths is not None and paths[i] is not None:
            items.append(name)
        else:
            items.append(Failed(name, f"{name}: neither bytes nor a path"))
    return items


def predictions_to_columns(predictions: Iterable[Prediction]) -> dict[str, Any]:
    """Predictions -> columns (numpy object arrays, which Ray Data stores as Arrow lists and strings)."""
    import numpy as np

    rows = list(predictions)
    columns: dict[str, list[Any]] = {name: [] for name in COLUMNS}
    for p in rows:
        columns["path"].append(p.path)
        columns["hashtags"].append([h.tag for h in p.hashtags])
        columns["scores"].append([float(h.score) for h in p.hashtags])
        columns["error"].append(p.error)
    out: dict[str, Any] = {}
    for name, values in columns.items():
        array = np.empty(len(values), dtype=object)
        for i, value in enumerate(values):  # element-wise: equal-length lists must not become a 2-D array
            array[i] = value
        out[name] = array
    return out
