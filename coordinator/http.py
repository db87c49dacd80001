"""What every JSON route shares: RFC 9457 problems, pagination and id parameters.

A low module: it imports no slice (the actor is resolved in `coordinator.auth.actors`)."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import TYPE_CHECKING, Annotated, Any, Generic, TypeVar

import msgspec
from litestar import Request, Router
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter, PathParameter, QueryParameter
from litestar.plugins.problem_details import ProblemDetailsException

from coordinator.base import MAX_ROW_ID
from coordinator.db import Database
from coordinator.errors import DomainError, english_errors
from coordinator.pagination import MAX_LIMIT, Page

T = TypeVar("T")
logger = logging.getLogger("coordinator")
DB = NamedDependency[Database]
if TYPE_CHECKING:
    from coordinator.auth.scope import Actor

    CurrentActor = NamedDependency[Actor]
else:
    # The handlers' `actor` (provided by `coordinator.auth.actors.provide_actor`): typed for the
    # type checker only, so that this low module imports no slice when it runs.
    CurrentActor = NamedDependency[Any]
Limit = Annotated[int, Parameter(ge=1, le=MAX_LIMIT, description="page size")]
MAX_OFFSET = 10**9
Offset = Annotated[int, Parameter(ge=0, le=MAX_OFFSET, description="rows to skip")]
# Ids are bounded so that no number reaches the database that it cannot compare: on PostgreSQL
# a larger number than an `integer` column holds is an error, not "not found".
MAX_ID = MAX_ROW_ID
PathId = Annotated[int, PathParameter(ge=1, le=MAX_ID)]
# Telegram's user and chat ids: up to 52 bits, negative for groups (a BIGINT column).
TELEGRAM_ID = 2**53
TelegramPathId = Annotated[int, PathParameter(ge=-TELEGRAM_ID, le=TELEGRAM_ID)]
OptionalTelegramQueryId = Annotated[int | None, QueryParameter(ge=-TELEGRAM_ID, le=TELEGRAM_ID)]
QueryId = Annotated[int, QueryParameter(ge=1, le=MAX_ID)]
OptionalQueryId = Annotated[int | None, QueryParameter(ge=1, le=MAX_ID)]
PageOffset = Annotated[int, QueryParameter(ge=0, le=MAX_OFFSET)]
Search = Annotated[str | None, QueryParameter(max_length=100, description="text to look for")]
Id = Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)]
OptionalId = Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)] | None
SmallCount = Annotated[int, msgspec.Meta(ge=0, le=100_000)]


class Problem(msgspec.Struct, omit_defaults=True):
    """RFC 9457 problem details, as every API error is answered."""

    status: int
    title: str
    detail: str | None = None
    type: str | None = None
    code: str | None = None
    errors: list[dict[str, Any]] | None = None


PROBLEM_STATUSES = {
    400: "The request is malformed or a parameter is out of range.",
    401: "No valid API token.",
    403: "The token's user may not do this.",
    404: "No such object, or not one the user may see.",
    409: "The object's current state does not allow this.",
    413: "The request body is too large.",
    422: "The request breaks a rule; `errors` lists what and where.",
}


def document_problems(app: Router, prefix: str = "/api/") -> None:
    """Describe the problem answers on every API operation of an app or router, in one place,
    so the OpenAPI document promises exactly what the server can answer."""
    responses = {
        status: ResponseSpec(Problem, description=text, media_type="application/problem+json")
        for status, text in PROBLEM_STATUSES.items()
    }
    for route in app.routes:
        if not route.path.startswith(prefix):
            continue
        for handler in getattr(route, "route_handlers", []):
            handler.responses = {**responses, **(handler.responses or {})}


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
        extra["errors"] = english_errors(exc.errors)
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


def problem_from_deep_json(exc: RecursionError) -> ProblemDetailsException:
    """A body nested beyond the JSON decoder's depth is refused; any other recursion is a bug
    and answered (and logged) as one."""
    if "deserializing" not in str(exc):  # msgspec's own words for a too-deep document
        return problem_from_crash(exc)
    return ProblemDetailsException(
        status_code=400, title="Bad Request", detail="The JSON body is nested too deeply."
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
