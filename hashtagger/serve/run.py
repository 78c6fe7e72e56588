"""Start the server: check the extra is installed, load and prepare the model once, run uvicorn."""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Iterator
from typing import Any

from hashtagger.errors import MissingDependencyError
from hashtagger.models.spec import ModelSpec
from hashtagger.progress import Progress
from hashtagger.runtime import DEFAULT_RUN, RunOptions


def run_server(
    *,
    host: str,
    port: int,
    spec: ModelSpec,
    api_key: str | None = None,
    max_upload_bytes: int = 20_000_000,
    max_files: int = 64,
    max_megapixels: float = 256.0,
    upload_timeout: float = 120.0,
    run: RunOptions = DEFAULT_RUN,
    progress: Progress | None = None,
) -> None:
    """Serve until interrupted; what the server says at start goes to `progress` (the CLI's stderr)."""
    say = (progress or Progress()).message
    try:
        import fastapi  # noqa: F401
        import python_multipart  # noqa: F401
        import uvicorn
    except ImportError as e:
        raise MissingDependencyError(
            f"hashtagger serve needs {e.name}: pip install 'hashtagger[serve]'"
        ) from None
    from hashtagger.models import open_tagger
    from hashtagger.serve.app import ServeSettings, create_app

    tagger = open_tagger(spec, run)
    settings = ServeSettings(
        api_key,
        max_upload_bytes,
        max_files,
        run.batch_size,
        run.decode_workers(tagger.device),
        max_megapixels,
        upload_timeout,
    )
    if not _loopback(host) and api_key is None:
        say(f"warning: serving on {host} to the network without an API key (--api-key)")
    say(f"hashtagger: {tagger.name} on http://{host}:{port}/ (Ctrl-C stops)")
    uvicorn.run(create_app(tagger, settings), host=host, port=port, log_level="warning")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@contextlib.contextmanager
def background_server(app: Any, host: str = "127.0.0.1") -> Iterator[str]:
    """Run `app` on a free port in a thread (tests, screenshots); yields its base URL, stops on exit."""
    import socket
    import threading
    import time

    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((host, 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.05)
    try:
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
