"""The HTTP service on Ray Serve: ``heapmetric serve --engine ray --replicas N``.

Each replica is the unchanged FastAPI app of ``service/`` (:func:`service.app.create_app`: the same routes,
auth, limits and micro-batcher), built inside the replica around a judge the replica loads once in its
constructor, so Ray Serve routes traffic to a replica only after its model is loaded. The Serve proxy spreads
requests over the replicas (each replica takes up to ``max_queue`` requests at once, so its micro-batcher
batches as it does under uvicorn). Per replica:

- health: Ray Serve calls :meth:`check_health` every ``health_check_period_s``; a replica whose model failed
  is reported unhealthy and replaced. ``GET /healthz`` and ``/readyz`` answer through the proxy as before.
- metrics: every response carries ``X-Heapmetric-Replica`` (the replica's id); with ``metrics_port`` set,
  replica *k* on a node also serves its own Prometheus registry on ``metrics_port + k`` (``GET /metrics``),
  so each replica can be scraped on its own (``/metrics`` through the proxy reaches one replica).
- graceful shutdown: on SIGTERM/SIGINT, ``serve.shutdown()`` stops routing to the replicas, waits up to
  ``request_timeout_s + 5`` s for their open requests, then runs each app's lifespan shutdown, which drains its
  micro-batcher's queue.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

log = logging.getLogger(__name__)

APP_NAME = "heapmetric"
REPLICA_HEADER = "x-heapmetric-replica"


class _ReplicaHeader:
    """ASGI middleware: adds ``X-Heapmetric-Replica: <id>`` to every HTTP response."""

    def __init__(self, app: Any, replica: str) -> None:
        self.app, self.value = app, replica.encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Any) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (REPLICA_HEADER.encode(), self.value)]
            await send(message)

        await self.app(scope, receive, send_with_header)


class HeapmetricReplica:
    """One Serve replica: loads the judge, builds the app, serves per-replica metrics, reports health."""

    def __init__(self, settings_json: str, metrics_port: int | None = None) -> None:
        from service.app import create_app
        from service.lifespan import load_judge
        from service.settings import Settings

        settings = Settings.model_validate_json(settings_json)
        self.replica, local_rank = _replica_identity()
        judge = load_judge(settings)  # before the replica counts as started: no traffic until it is loaded
        # not `self.app`: Serve's ingress wrapper owns that name (a read-only property)
        self.service_app = create_app(settings, judge=judge)
        self.service_app.add_middleware(_ReplicaHeader, replica=self.replica)
        self.metrics_server = None
        self.metrics_port = None
        if metrics_port:
            from prometheus_client import start_http_server

            self.metrics_port = metrics_port + local_rank
            registry = self.service_app.state.service.metrics.registry
            self.metrics_server, _ = start_http_server(
                self.metrics_port, addr=settings.host, registry=registry
            )
        log.info("heapmetric replica %s ready (metrics port %s)", self.replica, self.metrics_port)

    def __serve_build_asgi_app__(self) -> Any:
        return self.service_app

    def check_health(self) -> None:
        """Raises (so Ray Serve replaces the replica) when the model failed to load or warm up."""
        state = self.service_app.state.service
        if state.status == "failed":
            raise RuntimeError(f"heapmetric replica {self.replica}: {state.detail}")


def _replica_identity() -> tuple[str, int]:
    """(replica id, its rank among this deployment's replicas on its node); outside Serve ("local", 0)."""
    try:
        from ray import serve

        ctx = serve.get_replica_context()
    except Exception:  # noqa: BLE001 - not inside a replica (tests construct the class directly)
        return "local", 0
    rank = getattr(ctx, "rank", None)
    local = getattr(rank, "local_rank", rank if isinstance(rank, int) else 0)
    return str(ctx.replica_id.unique_id), int(local or 0)


def build_application(
    settings: Any,
    *,
    replicas: int = 1,
    cpus_per_replica: float = 1.0,
    gpus_per_replica: float = 0.0,
    metrics_port: int | None = None,
) -> Any:
    """The Serve application (a bound deployment) of ``replicas`` copies of the service app."""
    from ray import serve

    from heapmetric.distributed.bulk import require_ray

    require_ray()
    cls = serve.ingress()(HeapmetricReplica)
    deployment = serve.deployment(
        name="HeapmetricService",
        num_replicas=replicas,
        ray_actor_options={"num_cpus": cpus_per_replica, "num_gpus": gpus_per_replica},
        # the micro-batcher, not Serve, decides how much a replica takes: let requests reach its queue
        max_ongoing_requests=max(settings.max_queue, 8),
        health_check_period_s=10,
        health_check_timeout_s=30,
        graceful_shutdown_wait_loop_s=1,
        graceful_shutdown_timeout_s=settings.request_timeout_s + 5,
    )(cls)
    return deployment.bind(settings.model_dump_json(), metrics_port)


def start(
    settings: Any,
    *,
    replicas: int = 1,
    cpus_per_replica: float = 1.0,
    gpus_per_replica: float = 0.0,
    metrics_port: int | None = None,
) -> str:
    """Deploy the service on the Ray cluster this process is connected to; returns the proxy's base URL once
    every replica has loaded its model."""
    from ray import serve

    serve.start(http_options={"host": settings.host, "port": settings.port})
    app = build_application(
        settings,
        replicas=replicas,
        cpus_per_replica=cpus_per_replica,
        gpus_per_replica=gpus_per_replica,
        metrics_port=metrics_port,
    )
    serve.run(app, name=APP_NAME, route_prefix="/", blocking=False)
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    return f"http://{host}:{settings.port}"


def stop() -> None:
    """Graceful: stop routing, let open requests finish, drain every replica's queue, remove the replicas."""
    from ray import serve

    serve.shutdown()


def serve_forever(
    settings: Any,
    *,
    address: str | None = None,
    replicas: int = 1,
    cpus_per_replica: float = 1.0,
    gpus_per_replica: float = 0.0,
    metrics_port: int | None = None,
    quiet: bool = False,
) -> int:
    """``heapmetric serve --engine ray``: deploy, log where it listens, wait for SIGTERM/SIGINT, shut down
    gracefully. Returns 0."""
    import math
    import os

    import ray

    from heapmetric.distributed.bulk import connect

    local_cpus = None if address else max(os.cpu_count() or 1, math.ceil(replicas * cpus_per_replica) + 1)
    started_here = connect(address, num_cpus=local_cpus, quiet=quiet)
    stop_event = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop_event.set()) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        url = start(
            settings,
            replicas=replicas,
            cpus_per_replica=cpus_per_replica,
            gpus_per_replica=gpus_per_replica,
            metrics_port=metrics_port,
        )
        ports = (
            f"; per-replica metrics on ports {metrics_port}..{metrics_port + replicas - 1} of each node"
            if metrics_port
            else ""
        )
        log.warning("heapmetric serve: %d replica(s) on Ray Serve at %s%s", replicas, url, ports)
        while not stop_event.wait(1.0):
            pass
        log.warning("heapmetric serve: shutting down (finishing open requests, draining queues)")
        stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if started_here:
            ray.shutdown()
    return 0
