"""``heapmetric serve``: run the HTTP scoring service (``service/``) under uvicorn.

Flags override ``HEAPMETRIC_*`` environment variables (see ``service/settings.py``). The server binds to
loopback unless ``--host`` says otherwise; SIGTERM/SIGINT stop accepting, finish the queue, then exit.
"""

from __future__ import annotations

import argparse

# flag dest -> Settings field, for flags whose value is passed through when given
_PASS = (
    "model",
    "device",
    "dtype",
    "host",
    "port",
    "max_batch_tokens",
    "max_batch_items",
    "max_wait_ms",
    "max_queue",
    "max_items_per_request",
    "max_chars_per_field",
    "max_body_bytes",
    "request_timeout_s",
    "max_length",
    "api_key_file",
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    from heapmetric.cli import add_common

    p = sub.add_parser(
        "serve",
        help="run the HTTP scoring service",
        description="Serve a heapmetric judge over HTTP (POST /v1/score, /v1/compare; "
        "GET /v1/models, /v1/criteria, /healthz, /readyz, /metrics).",
    )
    p.add_argument(
        "--model",
        help="checkpoint folder or hub id (default: $HEAPMETRIC_MODEL or the embedded default model)",
    )
    p.add_argument("--host", help="bind address (default 127.0.0.1; use 0.0.0.0 in a container)")
    p.add_argument("--port", type=int, help="port (default 8000)")
    p.add_argument("--device", help="auto | cpu | cuda | cuda:N (default auto)")
    p.add_argument(
        "--dtype", help="auto | fp32 | bf16 | fp16 (default auto: bf16 on GPUs and on CPUs with native bf16)"
    )
    p.add_argument(
        "--quantize",
        choices=["int8", "8bit", "4bit"],
        help="int8: torch dynamic quantization (CPU); 8bit/4bit: bitsandbytes",
    )
    p.add_argument("--max-length", type=int, help="truncate model inputs to this many tokens")
    p.add_argument(
        "--max-batch-tokens",
        type=int,
        help="padded-token budget (items x longest) of one model batch (default 16384)",
    )
    p.add_argument("--max-batch-items", type=int, help="items in one model batch at most (default 64)")
    p.add_argument(
        "--max-wait-ms", type=float, help="how long an idle batcher waits to fill a batch (default 5)"
    )
    p.add_argument("--max-queue", type=int, help="queued items at most before 429 (default 1024)")
    p.add_argument("--max-items-per-request", type=int, help="items per request at most (default 256)")
    p.add_argument(
        "--max-chars-per-field", type=int, help="characters per text field at most (default 32000)"
    )
    p.add_argument("--max-body-bytes", type=int, help="request body size limit (default 4 MiB)")
    p.add_argument("--request-timeout-s", type=float, help="answer 503 after this many seconds (default 60)")
    p.add_argument(
        "--api-key-file",
        help="file with one API key per line; requests then need 'Authorization: Bearer <key>'",
    )
    p.add_argument(
        "--cors-origin",
        action="append",
        dest="cors_origins",
        metavar="ORIGIN",
        help="allow this browser origin (repeatable; CORS is off by default)",
    )
    p.add_argument("--no-warmup", action="store_true", help="report ready without scoring a warm-up item")
    p.add_argument(
        "--log-level", default=None, help="uvicorn log level (default: info, warning with --quiet)"
    )
    from heapmetric.distributed.cli import add_serve_engine_options

    add_serve_engine_options(p)
    add_common(p)
    p.set_defaults(func=run)


def build_settings(args: argparse.Namespace):  # -> service.settings.Settings
    """Settings from the environment, overridden by the flags that were given."""
    from pydantic import ValidationError

    from heapmetric.errors import InputError
    from service.settings import Settings

    overrides = {k: getattr(args, k) for k in _PASS if getattr(args, k, None) is not None}
    if args.quantize:
        overrides["quantization"] = args.quantize
    if args.cors_origins:
        overrides["cors_origins"] = args.cors_origins
    if args.no_warmup:
        overrides["warmup"] = False
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        err = exc.errors()[0]
        name = "--" + str(err["loc"][0]).replace("_", "-") if err.get("loc") else "settings"
        raise InputError(err["msg"], field=name) from exc
    settings.all_api_keys()  # a missing or empty key file fails now, in one line
    return settings


def check_model_and_device(settings) -> None:  # settings: service.settings.Settings
    """Fail in one line, before the port is bound or anything is loaded, when ``--device``, ``--dtype`` or
    ``--quantize`` cannot be used here or ``--model`` names no folder, cached hub id or embedded default
    (nothing is loaded)."""
    from heapmetric.loading import default_model, resolve_model_path
    from heapmetric.scoring.device import bnb_config, resolve_device, resolve_dtype

    device = resolve_device(settings.device)
    bnb_config(settings.quantization, resolve_dtype(settings.dtype, device, settings.quantization), device)
    model = settings.model or default_model()
    if model.startswith("generative:"):
        from heapmetric.judges.generative import locate_model

        locate_model(model.removeprefix("generative:"))
    else:
        resolve_model_path(model)


def bind_socket(host: str, port: int):  # -> socket.socket
    """A socket bound to ``host:port`` (not yet listening; uvicorn listens on it). A port in use or an
    address this machine does not have raises :class:`InputError` naming the flag."""
    import errno
    import socket

    from heapmetric.errors import InputError

    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise InputError(f"cannot resolve {host!r}: {exc.strerror}", field="--host") from exc
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise InputError(f"port {port} on {host} is already in use", field="--port") from exc
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror}", field="--host") from exc
    sock.set_inheritable(True)
    return sock


def run(args: argparse.Namespace) -> int:
    import logging

    import uvicorn

    from service.app import create_app

    settings = build_settings(args)
    if getattr(args, "engine", "local") == "ray":  # Ray Serve binds the port and loads the model per replica
        from heapmetric.distributed.cli import run_serve_ray

        return run_serve_ray(args, settings)
    # the fast checks first: a bad --model/--device or a busy port fails before the slow model load
    check_model_and_device(settings)
    sock = bind_socket(settings.host, settings.port)
    log = logging.getLogger("heapmetric.serve")
    fatal: list[str] = []
    server: uvicorn.Server | None = None

    def on_fatal(reason: str) -> None:
        fatal.append(reason)
        if server is not None:
            server.should_exit = True

    app = create_app(settings, on_fatal=on_fatal)
    level = args.log_level or ("warning" if args.quiet else "info")
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=level,
        timeout_graceful_shutdown=settings.request_timeout_s + 5,
        access_log=False,
    )
    server = uvicorn.Server(config)
    if settings.host not in ("127.0.0.1", "localhost", "::1") and not settings.all_api_keys():
        log.warning(
            "serving on %s without API keys: anyone who can reach the port can use the model", settings.host
        )
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    if fatal:
        from heapmetric.errors import ModelLoadError

        raise ModelLoadError(fatal[0])
    return 0
