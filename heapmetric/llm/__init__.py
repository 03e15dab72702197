"""Chat backends: an OpenAI-compatible HTTP endpoint (:class:`OpenAIChatBackend`) and a local transformers
model (:class:`LocalChatBackend`), behind one :class:`ChatBackend` protocol.

>>> from heapmetric.llm import OpenAIChatBackend
>>> backend = OpenAIChatBackend("http://127.0.0.1:8000", "my-model")     # doctest: +SKIP
>>> backend.chat_sync([{"role": "user", "content": "Hi"}], max_tokens=16).text   # doctest: +SKIP

Importing this package loads neither httpx nor torch; each backend imports what it needs when used.
"""

from __future__ import annotations

from typing import Any

from heapmetric.llm.base import (
    ChatBackend,
    ChatBackendError,
    ChatRequestError,
    ChatResponse,
    EndpointUnavailableError,
    TokenLogprob,
)

__all__ = [
    "ChatBackend",
    "ChatBackendError",
    "ChatRequestError",
    "ChatResponse",
    "EndpointUnavailableError",
    "LocalChatBackend",
    "OpenAIChatBackend",
    "TokenLogprob",
    "make_backend",
]


def __getattr__(name: str) -> Any:
    if name == "OpenAIChatBackend":
        from heapmetric.llm.openai import OpenAIChatBackend

        return OpenAIChatBackend
    if name == "LocalChatBackend":
        from heapmetric.llm.local import LocalChatBackend

        return LocalChatBackend
    raise AttributeError(f"module 'heapmetric.llm' has no attribute {name!r}")


def make_backend(kind: str, *, model: str, base_url: str | None = None, **kwargs: Any) -> ChatBackend:
    """A backend by kind name: ``openai`` (needs ``base_url``) or ``local``; unknown kinds raise with
    suggestions. ``kwargs`` go to the backend's constructor."""
    from heapmetric.errors import InputError, UnknownNameError

    if kind == "openai":
        if not base_url:
            raise InputError(
                "the openai backend needs --base-url (e.g. http://127.0.0.1:8000/v1)", field="base_url"
            )
        from heapmetric.llm.openai import OpenAIChatBackend

        return OpenAIChatBackend(base_url, model, **kwargs)
    if kind == "local":
        from heapmetric.llm.local import LocalChatBackend

        return LocalChatBackend(model, **kwargs)
    raise UnknownNameError("chat backend", kind, ["openai", "local"])
