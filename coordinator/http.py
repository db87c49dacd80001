"""What every JSON route shares: bearer auth, RFC 9457 problems, pagination parameters."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Annotated, Any, Generic, TypeVar

import msgspec
from litestar import Request
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.params import Parameter
from litestar.plugins.problem_details import ProblemDetailsException

from coordinator.auth.scope import Actor
from coordinator.auth.service import actor_from_token
from coordinator.db import Database
from coordinator.errors import DomainError
from coordinator.pagination import MAX_LIMIT, Page

T = TypeVar("T")
logger = logging.getLogger("coordinator")
DB = NamedDependency[Database]
CurrentActor = NamedDependency[Actor]
Limit = Annotated[int, Parameter(ge=1, le=MAX_LIMIT, description="page size")]
Offset = Annotated[int, Parameter(ge=0, description="rows to skip")]


class PageOut(msgspec.Struct, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


def out(struct: type[T], row: Any, **extra: Any) -> T:
    """Copy the struct's fields from a row: only what the struct names ever leaves the server."""
    fields = struct.__struct_fields__  # type: ignore[attr-defined]
    values = {name: extra[name] if name in extra else getattr(row, name) for name in fields}
    return struct(**values)


def page_out(struct: type[T], page: Page[Any]) -> PageOut[T]:
    return PageOut([out(struct, row) for row in page.items], page.total, page.limit, page.offset)


def problem_from_domain(exc: DomainError) -> ProblemDetailsException:
    extra: dict[str, Any] = {"code": exc.code}
    if exc.errors:
        extra["errors"] = exc.errors
    return ProblemDetailsException(
        status_code=exc.status,
        title=exc.title,
        detail=exc.detail,
        type_=f"urn:coordinator:problem:{exc.code}",
        extra=extra,
    )


def problem_from_http(exc: HTTPException) -> ProblemDetailsException:
    extra: dict[str, Any] = {}
    if isinstance(exc, ValidationException):
        errors = exc.extra if isinstance(exc.extra, list) else []
        extra["errors"] = [
            {"field": e.get("key") or e.get("source"), "message": e.get("message")}
            for e in errors
            if isinstance(e, dict)
        ]
    status = exc.status_code
    return ProblemDetailsException(
        status_code=status,
        title=HTTPStatus(status).phrase,
        detail=exc.detail if status < 500 else "The server failed; the error has been logged.",
        headers=exc.headers,
        extra=extra or None,
    )


def problem_from_crash(exc: Exception) -> ProblemDetailsException:
    """Anything unexpected: logged with its traceback, answered without internals."""
    logger.exception("unhandled error", exc_info=exc)
    return ProblemDetailsException(
        status_code=500,
        title="Internal Server Error",
        detail="The server failed; the error has been logged.",
    )


async def provide_db(request: Request[Any, Any, Any]) -> Database:
    db: DB = request.app.state.db
    return db


async def provide_actor(request: Request[Any, Any, Any], db: DB) -> Actor:
    """The bearer token's user, resolved once per request."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthorizedException(
            "Send an API token: Authorization: Bearer <token>.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    actor = await actor_from_token(db, token.strip())
    if actor is None:
        raise NotAuthorizedException(
            "The API token is unknown or revoked.", headers={"WWW-Authenticate": "Bearer"}
        )
    return actor
