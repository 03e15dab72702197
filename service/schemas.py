"""Wire models of the HTTP API (request and response bodies), with OpenAPI examples.

Field names are the ones used on every layer (see :mod:`heapmetric.judges.base`). Unknown fields are
rejected (422 naming the field), so a typo such as ``refrence`` is not silently ignored.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

_TEXT = "text (limited to the server's max_chars_per_field characters)"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScoreItemIn(_Strict):
    """One output to score with the fields it is judged against; per-item task/criterion/instruction
    override the request-level ones."""

    output: str = Field(..., description="the text being judged; " + _TEXT)
    source: str | None = Field(None, description="the input the output answers (article, prompt)")
    context: str | None = Field(None, description="dialogue history, knowledge, persona")
    reference: str | None = Field(None, description="a reference output")
    references: list[str] | None = Field(None, description="several references (the first is read)")
    instruction: str | None = Field(None, description="free-text evaluation instruction")
    task: str | None = None
    criterion: str | None = Field(None, description="criterion name, or task/criterion")
    system: str | None = Field(None, description="system name, for per-system means")
    id: str | None = None


class _Defaults(_Strict):
    task: str | None = Field(None, description="default task for items that name none")
    criterion: str | None = Field(None, description="default criterion (name, or task/criterion)")
    instruction: str | None = Field(None, description="default free-text evaluation instruction")


class ScoreRequest(_Defaults):
    """``POST /v1/score`` body."""

    items: list[ScoreItemIn] = Field(..., min_length=1)

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "task": "summarization",
                    "criterion": "coherence",
                    "items": [
                        {
                            "output": "The council approved the budget on Monday.",
                            "source": "On Monday the city council voted 7-2 to approve next year's budget ...",
                        },
                        {
                            "output": "Budget. Monday. Council.",
                            "source": "On Monday the city council voted 7-2 to approve next year's budget ...",
                        },
                    ],
                }
            ]
        },
    )


class ScoreResponse(BaseModel):
    """Scores in input order; ``null`` where the judge returned a non-finite number."""

    scores: list[float | None]
    calibrated: list[float | None] | None = Field(None, description="scores on the criterion's human scale")
    system_scores: dict[str, float] = Field(default_factory=dict)
    truncated: int = Field(0, description="items whose input was cut to the model's maximum length")
    metadata: dict[str, Any] = Field(default_factory=dict)

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "scores": [1.37, -0.82],
                    "calibrated": None,
                    "system_scores": {},
                    "truncated": 0,
                    "metadata": {"model": "heapmetric-default", "dtype": "float32", "quantization": None},
                }
            ]
        }
    )


class PairIn(_Strict):
    """Two outputs for the same input."""

    output_a: str
    output_b: str
    source: str | None = None
    context: str | None = None
    reference: str | None = None
    instruction: str | None = None
    task: str | None = None
    criterion: str | None = None
    id: str | None = None


class CompareRequest(_Defaults):
    """``POST /v1/compare`` body."""

    pairs: list[PairIn] = Field(..., min_length=1)

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "task": "summarization",
                    "criterion": "coherence",
                    "pairs": [
                        {
                            "output_a": "The council approved the budget on Monday.",
                            "output_b": "Budget. Monday. Council.",
                            "source": "On Monday the city council voted 7-2 to approve next year's budget ...",
                        }
                    ],
                }
            ]
        },
    )


class CompareResponse(BaseModel):
    """P(output_a is better) per pair, in input order."""

    probabilities: list[float | None]
    scores_a: list[float | None] | None = None
    scores_b: list[float | None] | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"probabilities": [0.9], "scores_a": [1.37], "scores_b": [-0.82], "metadata": {}}]
        }
    )


class Limits(BaseModel):
    """What one request may hold."""

    max_items_per_request: int
    max_chars_per_field: int
    max_body_bytes: int


class ModelCard(BaseModel):
    """The judge the server actually runs."""

    id: str
    kind: str
    device: str | None = None
    dtype: str | None = None
    quantization: str | None = None
    max_length: int | None = None
    order_free: bool = True
    metadata: dict[str, Any] = Field(default_factory=dict)


class ModelsResponse(BaseModel):
    """``GET /v1/models``."""

    data: list[ModelCard]
    limits: Limits

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "data": [
                        {
                            "id": "heapmetric-default",
                            "kind": "reward",
                            "device": "cuda:0",
                            "dtype": "bfloat16",
                            "quantization": "4bit",
                            "max_length": 512,
                            "order_free": True,
                            "metadata": {},
                        }
                    ],
                    "limits": {
                        "max_items_per_request": 256,
                        "max_chars_per_field": 32000,
                        "max_body_bytes": 4194304,
                    },
                }
            ]
        }
    )


class CriterionOut(BaseModel):
    """One registered criterion."""

    id: str
    task: str
    criterion: str
    definition: str
    fields: list[str]
    scale: list[float] | None = None
    instruction: str
    version: int


class CriteriaResponse(BaseModel):
    """``GET /v1/criteria``."""

    criteria: list[CriterionOut]
    registry_version: str


class Status(BaseModel):
    """``GET /healthz`` and ``GET /readyz``."""

    status: str = Field(..., examples=["ok", "ready", "loading", "failed", "draining"])
    detail: str | None = None


class ErrorBody(BaseModel):
    code: int = Field(..., description="the HTTP status")
    type: str = Field(..., examples=["invalid_request", "unauthorized", "queue_full"])
    message: str
    field: str | None = Field(None, description="dotted path of the offending field, e.g. items[2].source")


class ErrorResponse(BaseModel):
    """The one shape of every error answer."""

    error: ErrorBody

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "error": {
                        "code": 422,
                        "type": "invalid_request",
                        "message": "longer than 32000 characters",
                        "field": "items[0].source",
                    }
                }
            ]
        }
    )
