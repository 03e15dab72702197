"""Run an app under a real uvicorn server on a free loopback port, in a background thread.

For tests and notebooks::

    with serve_in_thread(create_app(settings, judge=my_judge)) as server:
        httpx.post(server.url + "/v1/score", json=...)
        server.stop()          # what SIGTERM does: stop accepting, finish open requests, drain, exit
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import uvicorn


class ThreadedServer:
    """A uvicorn server bound to ``127.0.0.1:<free port>`` running in a daemon thread."""

    def __init__(self, app: Any, *, graceful_timeout: float | None = 30.0) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=graceful_timeout,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, name=f"uvicorn-{self.port}", daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            asyncio.run(self.server.serve(sockets=[self.sock]))
        except BaseException as exc:  # noqa: BLE001 - surfaced by start()/stop()
            self.error = exc

    def start(self, timeout: float = 30.0, ready: bool = False) -> ThreadedServer:
        """Start and wait until ``/healthz`` answers (and ``/readyz`` says ready when ``ready``)."""
        self.thread.start()
        deadline = time.monotonic() + timeout
        path = "/readyz" if ready else "/healthz"
        while time.monotonic() < deadline:
            if self.error is not None or not self.thread.is_alive():
                raise RuntimeError(f"the server did not start: {self.error!r}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + path, timeout=2).status_code == 200:
                    return self
            time.sleep(0.05)
        raise TimeoutError(f"{self.url}{path} did not answer 200 within {timeout} s")

    def stop(self, timeout: float = 60.0) -> None:
        """Graceful stop, as on SIGTERM; waits for the thread to end."""
        self.server.should_exit = True
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise TimeoutError("the server did not stop in time")


@contextlib.contextmanager
def serve_in_thread(app: Any, *, ready: bool = False, timeout: float = 30.0) -> Iterator[ThreadedServer]:
    """Context manager around :class:`ThreadedServer`; stops the server on exit."""
    server = ThreadedServer(app).start(timeout=timeout, ready=ready)
    try:
        yield server
    finally:
        if server.thread.is_alive():
            server.stop()
