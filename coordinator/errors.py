"""Domain errors: services raise them, the web layers turn them into problem JSON or form errors."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 422
    title = "The request breaks a rule"
    code = "invalid"

    def __init__(
        self, detail: str, *, errors: list[dict[str, Any]] | None = None, code: str | None = None
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        if code:
            self.code = code


class Invalid(DomainError):
    """Input that cannot be accepted; `errors` lists fields or rows with what is wrong."""


class NotFound(DomainError):
    status = 404
    title = "Not found"
    code = "not_found"


class Forbidden(DomainError):
    status = 403
    title = "Forbidden"
    code = "forbidden"


class Conflict(DomainError):
    """The request is well-formed but the object's state does not allow it now."""

    status = 409
    title = "Conflict with the current state"
    code = "conflict"


def field_error(field: str, message: str) -> dict[str, Any]:
    return {"field": field, "message": message}
