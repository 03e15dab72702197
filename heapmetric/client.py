"""HTTP clients of the heapmetric service; both implement :class:`heapmetric.judges.base.Judge`.

>>> from heapmetric.client import HeapmetricClient
>>> judge = HeapmetricClient("http://127.0.0.1:8000", api_key="...")        # doctest: +SKIP
>>> judge.score([ScoreItem(output="...", source="...", task="summarization",
...                        criterion="coherence")]).scores                   # doctest: +SKIP

Requests are split into chunks of at most the server's ``max_items_per_request`` (read from
``GET /v1/models`` once) or ``batch_size``. 429 and 503 answers, connection errors and connect/write/pool
timeouts are retried with exponential backoff (honouring ``Retry-After``) up to ``max_retries`` times; other
errors raise at once.

Timeouts: the default ``timeout`` (:data:`DEFAULT_TIMEOUT`, 90 s) is longer than the server's default
``request_timeout_s`` (60 s), after which the server itself answers 503 (retried as above), so a slow batch is
normally answered rather than abandoned. A *read* timeout means the server got the request and may still be
working on it: re-sending it only adds load, so it is retried once and then raised. Against a server started
with a longer ``request_timeout_s``, pass a ``timeout`` above it (or send smaller ``batch_size`` chunks).
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx

from heapmetric.errors import HeapmetricError, InputError
from heapmetric.judges.base import CompareResult, JudgeInfo, PairItem, ScoreItem, ScoreResult, system_means

__all__ = [
    "HeapmetricClient",
    "AsyncHeapmetricClient",
    "ServerError",
    "DEFAULT_TIMEOUT",
    "read_api_key_file",
    "resolve_api_key",
]

RETRY_STATUS = (429, 503)
_DEFAULT_CHUNK = 64
DEFAULT_TIMEOUT = 90.0
"""Seconds; above the service's default ``request_timeout_s`` (60) so the server's own deadline answers first."""
MAX_READ_TIMEOUT_RETRIES = 1
"""A read timeout (the server has the request and may still be computing) is re-sent at most this often."""


def read_api_key_file(path: str | os.PathLike) -> list[str]:
    """The keys of an API-key file, in file order: one key per line; blank lines are skipped and a line whose
    first non-blank character is ``#`` is a comment. Anywhere else ``#`` is part of the key (``key#2`` is one
    key). Surrounding whitespace is stripped; a key with whitespace inside is an :class:`InputError` naming the
    line (a comment after a key is not allowed), as are an unreadable file and one without keys."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read the API key file: {exc.strerror}", file=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise InputError("the API key file is not UTF-8 text", file=str(path)) from exc
    keys = []
    for number, line in enumerate(text.splitlines(), start=1):
        key = line.strip()
        if not key or key.startswith("#"):
            continue
        if any(ch.isspace() for ch in key):
            raise InputError(
                "a key cannot contain whitespace (comments go on their own line, starting with #)",
                file=str(path),
                line=number,
            )
        keys.append(key)
    if not keys:
        raise InputError("the API key file holds no key", file=str(path))
    return keys


def resolve_api_key(api_key: str | None = None, api_key_file: str | os.PathLike | None = None) -> str | None:
    """The key a client sends: ``api_key``, else the first key of ``api_key_file``
    (:func:`read_api_key_file`), else ``$HEAPMETRIC_API_KEY``, else None (no ``Authorization`` header)."""
    if api_key:
        return api_key
    if api_key_file is not None:
        return read_api_key_file(api_key_file)[0]
    from heapmetric.env import HEAPMETRIC_API_KEY

    return os.environ.get(HEAPMETRIC_API_KEY) or None


class ServerError(HeapmetricError):
    """The server answered with an error (after retries where retrying applies)."""

    def __init__(self, status: int, type_: str, message: str, field: str | None = None) -> None:
        self.status, self.type, self.field = status, type_, field
        where = f" (field {field})" if field else ""
        super().__init__(f"server answered {status} {type_}: {message}{where}")


def _item_json(item: ScoreItem | PairItem) -> dict[str, Any]:
    row = {k: v for k, v in asdict(item).items() if v is not None}
    if "references" in row:
        row["references"] = list(row["references"])
    return row


def _nan(x: float | None) -> float:
    return math.nan if x is None else float(x)


def _error_of(response: httpx.Response) -> ServerError:
    try:
        err = response.json()["error"]
        return ServerError(
            response.status_code, err.get("type", "error"), err.get("message", ""), err.get("field")
        )
    except Exception:  # noqa: BLE001 - not our server, or not JSON
        return ServerError(response.status_code, "error", response.text[:200])


def _delay(attempt: int, response: httpx.Response | None, backoff: float, max_delay: float) -> float:
    """Retry-After when the server gives one, else exponential backoff with jitter."""
    if response is not None:
        value = response.headers.get("Retry-After")
        if value:
            try:
                return min(float(value), max_delay)
            except ValueError:
                pass
    return min(backoff * (2**attempt), max_delay) * (0.5 + random.random() / 2)


def _read_timeout_error(
    base_url: str, method: str, path: str, timeout: Any, exc: Exception
) -> HeapmetricError:
    return HeapmetricError(
        f"{base_url} did not answer {method} {path} within the client timeout ({timeout} s) "
        f"{MAX_READ_TIMEOUT_RETRIES + 1} times; the server may be overloaded or the batch too slow: "
        f"pass a longer timeout (above the server's request_timeout_s) or a smaller batch_size ({exc})"
    )


def _chunks(n: int, size: int) -> list[tuple[int, int]]:
    return [(i, min(i + size, n)) for i in range(0, n, size)]


def _score_result(parts: list[dict[str, Any]], items: Sequence[ScoreItem]) -> ScoreResult:
    scores = [_nan(s) for p in parts for s in p["scores"]]
    cal_parts = [p.get("calibrated") or [None] * len(p["scores"]) for p in parts]
    calibrated = [c for part in cal_parts for c in part]
    systems = [it.system for it in items]
    return ScoreResult(
        scores=scores,
        calibrated=calibrated if any(c is not None for c in calibrated) else None,
        system_scores=system_means(scores, systems) if any(systems) else {},
        metadata=parts[0].get("metadata", {}) if parts else {},
        truncated=sum(int(p.get("truncated", 0)) for p in parts),
    )


def _compare_result(parts: list[dict[str, Any]]) -> CompareResult:
    probabilities = [_nan(p) for part in parts for p in part["probabilities"]]
    both = all(part.get("scores_a") is not None and part.get("scores_b") is not None for part in parts)
    return CompareResult(
        probabilities=probabilities,
        scores_a=[_nan(s) for part in parts for s in part["scores_a"]] if both and parts else None,
        scores_b=[_nan(s) for part in parts for s in part["scores_b"]] if both and parts else None,
        metadata=parts[0].get("metadata", {}) if parts else {},
    )


def _info(base_url: str, models: dict[str, Any]) -> JudgeInfo:
    card = models["data"][0]
    meta = dict(card.get("metadata") or {})
    meta.update({k: card.get(k) for k in ("device", "dtype", "quantization", "max_length")}, server=base_url)
    return JudgeInfo(
        name=f"http:{card['id']}", kind="http", order_free=bool(card.get("order_free", True)), metadata=meta
    )


class _Base:
    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = 5,
        *,
        backoff: float = 0.5,
        max_delay: float = 30.0,
    ) -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            # no field name: this is the CLI's --server as much as the API's base_url
            hint = f" (did you mean 'http://{base_url}'?)" if isinstance(base_url, str) and base_url else ""
            raise InputError(f"the server URL must start with http:// or https://, got {base_url!r}{hint}")
        self.base_url = base_url.rstrip("/")
        self.max_retries, self.backoff, self.max_delay = max_retries, backoff, max_delay
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = timeout
        self._models: dict[str, Any] | None = None

    def _chunk_size(self, batch_size: int | None) -> int:
        limit = (self._models or {}).get("limits", {}).get("max_items_per_request", _DEFAULT_CHUNK)
        return max(1, min(batch_size or limit, limit))

    @staticmethod
    def _body(key: str, rows: Sequence[ScoreItem | PairItem]) -> dict[str, Any]:
        return {key: [_item_json(r) for r in rows]}


class HeapmetricClient(_Base):
    """Synchronous client; a :class:`~heapmetric.judges.base.Judge` backed by a heapmetric server."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = 5,
        **kw: Any,
    ) -> None:
        super().__init__(base_url, api_key, timeout, max_retries, **kw)
        self._http = httpx.Client(base_url=self.base_url, headers=self._headers, timeout=timeout)

    def __enter__(self) -> HeapmetricClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, json: Any = None) -> Any:
        """One API call with retries on 429/503 and transport errors (a read timeout: once); returns the
        decoded JSON body."""
        read_timeouts = 0
        for attempt in range(self.max_retries + 1):
            response = None
            try:
                response = self._http.request(method, path, json=json)
            except httpx.ReadTimeout as exc:
                read_timeouts += 1
                if read_timeouts > MAX_READ_TIMEOUT_RETRIES or attempt == self.max_retries:
                    raise _read_timeout_error(self.base_url, method, path, self._timeout, exc) from exc
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                if attempt == self.max_retries:
                    raise HeapmetricError(f"cannot reach {self.base_url}: {exc}") from exc
            else:
                if response.status_code < 400:
                    return response.json()
                if response.status_code not in RETRY_STATUS or attempt == self.max_retries:
                    raise _error_of(response)
            time.sleep(_delay(attempt, response, self.backoff, self.max_delay))
        raise AssertionError("unreachable")

    def models(self) -> dict[str, Any]:
        """``GET /v1/models`` (cached)."""
        if self._models is None:
            self._models = self.request("GET", "/v1/models")
        return self._models

    def health(self) -> bool:
        """True when ``/readyz`` says the model is loaded and warmed."""
        try:
            return self._http.get("/readyz").status_code == 200
        except httpx.HTTPError:
            return False

    @property
    def info(self) -> JudgeInfo:
        return _info(self.base_url, self.models())

    def score(
        self, items: Sequence[ScoreItem], *, batch_size: int | None = None, show_progress: bool = False
    ) -> ScoreResult:
        """Scores in input order, split into requests of at most ``batch_size`` items."""
        self.models()
        size = self._chunk_size(batch_size)
        parts = [
            self.request("POST", "/v1/score", self._body("items", items[a:b]))
            for a, b in _chunks(len(items), size)
        ]
        return _score_result(parts, items)

    def compare(
        self, pairs: Sequence[PairItem], *, batch_size: int | None = None, show_progress: bool = False
    ) -> CompareResult:
        """P(output_a better) per pair, in input order."""
        self.models()
        size = self._chunk_size(batch_size)
        parts = [
            self.request("POST", "/v1/compare", self._body("pairs", pairs[a:b]))
            for a, b in _chunks(len(pairs), size)
        ]
        return _compare_result(parts)


class AsyncHeapmetricClient(_Base):
    """Asynchronous client. ``await`` the ``a*`` methods; ``score``/``compare`` also work synchronously
    (outside an event loop) so this class is a :class:`~heapmetric.judges.base.Judge` too.

    Chunks of one call are sent concurrently, at most ``concurrency`` at a time.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = 5,
        *,
        concurrency: int = 8,
        **kw: Any,
    ) -> None:
        super().__init__(base_url, api_key, timeout, max_retries, **kw)
        self.concurrency = concurrency
        self._http: httpx.AsyncClient | None = None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                base_url=self.base_url,
                headers=self._headers,
                timeout=self._timeout,
                limits=httpx.Limits(max_connections=max(self.concurrency, 1)),
            )
        return self._http

    async def __aenter__(self) -> AsyncHeapmetricClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def request(self, method: str, path: str, json: Any = None) -> Any:
        """One API call with retries on 429/503 and transport errors (a read timeout: once); returns the
        decoded JSON body."""
        read_timeouts = 0
        for attempt in range(self.max_retries + 1):
            response = None
            try:
                response = await self._client().request(method, path, json=json)
            except httpx.ReadTimeout as exc:
                read_timeouts += 1
                if read_timeouts > MAX_READ_TIMEOUT_RETRIES or attempt == self.max_retries:
                    raise _read_timeout_error(self.base_url, method, path, self._timeout, exc) from exc
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                if attempt == self.max_retries:
                    raise HeapmetricError(f"cannot reach {self.base_url}: {exc}") from exc
            else:
                if response.status_code < 400:
                    return response.json()
                if response.status_code not in RETRY_STATUS or attempt == self.max_retries:
                    raise _error_of(response)
            await asyncio.sleep(_delay(attempt, response, self.backoff, self.max_delay))
        raise AssertionError("unreachable")

    async def amodels(self) -> dict[str, Any]:
        """``GET /v1/models`` (cached)."""
        if self._models is None:
            self._models = await self.request("GET", "/v1/models")
        return self._models

    async def ainfo(self) -> JudgeInfo:
        return _info(self.base_url, await self.amodels())

    @property
    def info(self) -> JudgeInfo:
        if self._models is None:
            with httpx.Client(base_url=self.base_url, headers=self._headers, timeout=self._timeout) as c:
                try:
                    response = c.get("/v1/models")
                except httpx.HTTPError as exc:
                    raise HeapmetricError(f"cannot reach {self.base_url}: {exc}") from exc
                if response.status_code >= 400:
                    raise _error_of(response)
                self._models = response.json()
        return _info(self.base_url, self._models)

    async def _gather(self, path: str, key: str, rows: Sequence[Any], batch_size: int | None) -> list[Any]:
        await self.amodels()
        sem = asyncio.Semaphore(self.concurrency)

        async def one(a: int, b: int) -> Any:
            async with sem:
                return await self.request("POST", path, self._body(key, rows[a:b]))

        return await asyncio.gather(*(one(a, b) for a, b in _chunks(len(rows), self._chunk_size(batch_size))))

    async def ascore(self, items: Sequence[ScoreItem], *, batch_size: int | None = None) -> ScoreResult:
        """Scores in input order."""
        return _score_result(await self._gather("/v1/score", "items", items, batch_size), items)

    async def acompare(self, pairs: Sequence[PairItem], *, batch_size: int | None = None) -> CompareResult:
        """P(output_a better) per pair, in input order."""
        return _compare_result(await self._gather("/v1/compare", "pairs", pairs, batch_size))

    def _sync(self, coro: Any) -> Any:
        async def run() -> Any:
            try:
                return await coro
            finally:
                await self.aclose()  # the connection pool belongs to this temporary loop

        return asyncio.run(run())

    def score(
        self, items: Sequence[ScoreItem], *, batch_size: int | None = None, show_progress: bool = False
    ) -> ScoreResult:
        """Synchronous :meth:`ascore` (must not be called from a running event loop)."""
        return self._sync(self.ascore(items, batch_size=batch_size))

    def compare(
        self, pairs: Sequence[PairItem], *, batch_size: int | None = None, show_progress: bool = False
    ) -> CompareResult:
        """Synchronous :meth:`acompare` (must not be called from a running event loop)."""
        return self._sync(self.acompare(pairs, batch_size=batch_size))
