"""`predict --engine ray`: the same work spread over the actors of a Ray cluster, results back in input order.

The driver only walks the inputs and sends batches of paths; each actor holds one model (loaded once)
and reads, decodes and scores its photos with `HashtagPredictor`, the very code `hashtagger predict`
runs in one process. At most two batches per actor are in flight, so memory stays flat and output
streams. Paths are read on the workers: on a cluster of several machines they must see the same files
(a shared or network file system); for object storage use `HashtagPredictor` in a Ray Data pipeline.
"""

from __future__ import annotations

import logging
import os
import socket
from collections import deque
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from hashtagger.errors import HashtaggerError, MissingDependencyError
from hashtagger.predict.pipeline import Failed
from hashtagger.predict.predictions import Prediction

if TYPE_CHECKING:
    from hashtagger.models.spec import ModelSpec
    from hashtagger.predict.hashtags import Selection
    from hashtagger.runtime import RunOptions

#: Batches queued per actor: one running, one waiting, so no actor idles between batches.
IN_FLIGHT_PER_ACTOR = 2
#: Seconds to wait for a TCP answer from a cluster's address before giving up (ray.init itself retries for
#: minutes, printing C++ warnings, when nothing listens there).
PROBE_TIMEOUT_S = 10.0


class TaggingActor:
    """The Ray actor: a HashtagPredictor, with a load error kept as one line instead of a dead actor."""

    def __init__(self, spec: ModelSpec, selection: Selection, run: RunOptions) -> None:
        from hashtagger.predict.batch_predictor import HashtagPredictor

        self.predictor: HashtagPredictor | None = None
        self.error: str | None = None
        try:
            self.predictor = HashtagPredictor.opened(spec, selection, run)
        except HashtaggerError as e:
            self.error = str(e)
        except Exception as e:  # noqa: BLE001 - reported on the driver as one line
            self.error = f"cannot load the model on a Ray worker ({type(e).__name__}: {e})"

    def ready(self) -> str | None:
        """None once the model is loaded, else why it could not be."""
        return self.error

    def tag(self, paths: list[str]) -> list[Prediction]:
        if self.predictor is None:  # the driver checks ready() first; this is for other callers
            raise HashtaggerError(self.error or "the model is not loaded")
        return self.predictor.predict(paths)


def import_ray() -> Any:
    """Ray, or a one-line error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise MissingDependencyError("--engine ray needs Ray: pip install 'hashtagger[ray]'") from None
    return ray


def local_cpus() -> int:
    """This machine's usable cores (CPU affinity and container limits respected by the scheduler)."""
    from hashtagger.runtime import cpu_cores

    return cpu_cores()


def connect(ray: Any, address: str | None, quiet: bool) -> bool:
    """Join the cluster at `address`, or start a local one sized to this machine; True if we started it."""
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": not quiet,
        "logging_level": logging.ERROR if quiet else logging.WARNING,
    }
    if address is None and not os.environ.get("RAY_ADDRESS"):
        kwargs["num_cpus"] = local_cpus()
    if address:
        probe(address, "--ray-address")
    elif os.environ.get("RAY_ADDRESS"):
        probe(os.environ["RAY_ADDRESS"], "RAY_ADDRESS")
    try:
        ray.init(address=address, **kwargs)
    except Exception as e:  # noqa: BLE001 - ConnectionError, RuntimeError, ... all end the same way
        where = f"the Ray cluster at {address}" if address else "a local Ray cluster"
        reason = f"{type(e).__name__}: {e}".strip().splitlines()[0]
        raise HashtaggerError(f"--engine ray: cannot start or join {where} ({reason})") from None
    return True


def _host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of 'host:port', '[v6]:port' or 'ray://host:port'; None for 'auto', 'local', ..."""
    rest = address.strip().split("://", 1)[-1].rstrip("/")
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def probe(address: str, name: str, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Fail in one line, within `timeout` seconds, when nothing accepts a TCP connection at `address`."""
    where = _host_port(address)
    if where is None:
        return
    try:
        socket.create_connection(where, timeout=timeout).close()
    except OSError as e:
        reason = "no answer" if isinstance(e, TimeoutError) else (e.strerror or type(e).__name__)
        raise HashtaggerError(
            f"{name} {address}: no Ray cluster answers there ({reason}); "
            "start one with `ray start --head` or give the head's address"
        ) from None


def start_actors(
    ray: Any, model: tuple[ModelSpec, Selection, RunOptions], cpus_per_actor: int, device: str
) -> list[Any]:
    """One actor per `cpus_per_actor` CPUs of the cluster (one per GPU when the model runs on GPUs)."""
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0)) if device in ("auto", "cuda") else 0
    cpus = int(resources.get("CPU", 1))
    count = gpus if gpus else max(1, cpus // cpus_per_actor)
    actor_class = ray.remote(
        num_cpus=min(cpus_per_actor, cpus), num_gpus=1 if gpus else 0, max_restarts=1, max_task_retries=0
    )(TaggingActor)
    actors = [actor_class.remote(*model) for _ in range(count)]
    for error in ray.get([a.ready.remote() for a in actors]):
        if error is not None:
            raise HashtaggerError(error)
    return actors


def _batches(items: Iterable[str | Failed], size: int) -> Iterator[list[str | Failed]]:
    batch: list[str | Failed] = []
    photos = 0
    for item in items:
        batch.append(item)
        photos += not isinstance(item, Failed)
        if photos >= size:
            yield batch
            batch, photos = [], 0
    if batch:
        yield batch


def _merge(ray: Any, batch: list[str | Failed], ref: Any) -> list[Prediction]:
    """The batch's predictions in input order; a worker that died fails its batch's photos, one line each."""
    paths = [i for i in batch if not isinstance(i, Failed)]
    try:
        done = iter(ray.get(ref) if paths else [])
    except ray.exceptions.RayError as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        done = iter([Prediction(p, error=f"{p}: the Ray worker tagging it failed ({reason})") for p in paths])
    return [Prediction(i.path, error=i.error) if isinstance(i, Failed) else next(done) for i in batch]


def ray_predictions(
    items: Iterable[str | Failed],
    spec: ModelSpec,
    selection: Selection,
    run: RunOptions,
    *,
    address: str | None = None,
    cpus_per_actor: int = 1,
) -> Iterator[Prediction]:
    """Predictions for `items` computed on Ray actors, yielded in input order as batches finish.

    Each actor opens `spec` as `run` says (`run.batch_size` photos a batch) and selects with `selection`.
    """
    ray = import_ray()
    started = connect(ray, address, run.quiet)
    actors: list[Any] = []
    try:
        actors = start_actors(ray, (spec, selection, run), cpus_per_actor, run.device)
        pending: deque[tuple[list[str | Failed], Any]] = deque()
        for n, batch in enumerate(_batches(items, run.batch_size)):
            paths = [i for i in batch if not isinstance(i, Failed)]
            pending.append((batch, actors[n % len(actors)].tag.remote(paths) if paths else None))
            while len(pending) >= IN_FLIGHT_PER_ACTOR * len(actors):
                yield from _merge(ray, *pending.popleft())
        while pending:
            yield from _merge(ray, *pending.popleft())
    finally:
        for actor in actors:
            ray.kill(actor)
        if started:
            ray.shutdown()
