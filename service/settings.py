"""Service settings: one typed place for every knob, read from ``HEAPMETRIC_*`` environment variables
(or passed explicitly by ``heapmetric serve`` / tests).

``HEAPMETRIC_MODEL`` is the same variable :func:`heapmetric.load` reads, so a server and a Python user
agree on the default model.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """What the server loads, how it batches, and what it accepts."""

    model_config = SettingsConfigDict(env_prefix="HEAPMETRIC_", extra="ignore")

    # model
    model: str | None = Field(None, description="checkpoint folder or hub id; None = the embedded default")
    device: str = "auto"
    dtype: str = "auto"
    quantization: Literal["int8", "4bit", "8bit"] | None = None
    max_length: int | None = Field(None, ge=8, description="truncate model inputs to this many tokens")
    warmup: bool = Field(True, description="score one item after loading, before /readyz says ready")

    # network
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    # NoDecode: environment values are split on commas (or read as a JSON list) by _split_commas
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="CORS is off when empty"
    )
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="bearer keys; auth is off when empty"
    )
    api_key_file: Path | None = Field(
        None, description="file with one API key per line (lines starting with # are comments)"
    )

    # micro-batching
    max_batch_tokens: int = Field(16384, ge=1, description="padded-token budget of one model batch")
    max_batch_items: int = Field(64, ge=1, description="items in one model batch at most")
    max_wait_ms: float = Field(5.0, ge=0, description="how long an idle batcher waits to fill a batch")
    max_queue: int = Field(1024, ge=1, description="queued items at most; beyond it requests get 429")
    request_timeout_s: float = Field(60.0, gt=0, description="a request not answered by then gets 503")

    # request limits
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024, description="larger bodies get 413")
    max_items_per_request: int = Field(256, ge=1)
    max_chars_per_field: int = Field(32_000, ge=1)

    @field_validator("api_keys", "cors_origins", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        # env values like "k1,k2" are friendlier than JSON lists; both are accepted
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                return json.loads(value)
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.max_items_per_request > self.max_queue:
            if "max_items_per_request" in self.model_fields_set:
                raise ValueError("max_items_per_request must not exceed max_queue")
            self.max_items_per_request = self.max_queue  # a request must fit in an empty queue
        return self

    def all_api_keys(self) -> list[str]:
        """Keys from ``api_keys`` plus those in ``api_key_file`` (one per line; a line starting with ``#`` is a
        comment, a ``#`` elsewhere is part of the key: :func:`heapmetric.client.read_api_key_file`)."""
        keys = list(self.api_keys)
        if self.api_key_file is not None:
            from heapmetric.client import read_api_key_file

            keys += read_api_key_file(self.api_key_file)
        return keys


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings read from the environment once per process."""
    return Settings()
