"""gsoia's refusals as RFC 9457 problem+json (their statuses: ``gsoia.node.errors.ANSWERS``)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from gsoia.errors import GsoiaError, InputError
from gsoia.node.errors import (
    Denied,
    Forbidden,
    answer_for,
)

MEDIA_TYPE = "application/problem+json"


def problem(
    status: int, slug: str, title: str, detail: str, request: Request, **extra: Any
) -> JSONResponse:
    body = {
        "type": f"/problems/{slug}",
        "title": title,
        "status": status,
        "detail": detail.splitlines()[0] if detail else title,
        "instance": request.url.path,
        **extra,
    }
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="gsoia", Basic realm="gsoia"'
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def problem_for(error: GsoiaError, request: Request) -> JSONResponse:
    answer = answer_for(error)
    extra: dict[str, Any] = {}
    if isinstance(error, InputError):
        extra["errors"] = [{"place": p.place, "reason": p.reason} for p in error.problems]
    if isinstance(error, Forbidden):
        extra["reason"] = error.code
    if isinstance(error, Denied):
        decision = error.decision.to_dict()
        extra.update(
            reason=decision["reason"],
            rule=decision["rule"],
            agreement=decision["agreement"],
            explanation=decision["explanation"],
        )
    return problem(answer.status, answer.slug, answer.title, error.diagnostics(), request, **extra)


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "one line"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"place": {"type": "string"}, "reason": {"type": "string"}},
            },
        },
        "reason": {
            "type": "string",
            "description": "the reason code: the release decision's, or the authority's",
        },
        "rule": {"type": "integer"},
        "agreement": {"type": ["string", "null"]},
        "explanation": {"type": "string"},
    },
}


def declare_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """Declare the error responses of an OpenAPI document as what they are: problem+json."""
    schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for code, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if code[:1] in ("4", "5") and "application/json" in content:
                    response["content"] = {
                        MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}
                    }
    return schema
