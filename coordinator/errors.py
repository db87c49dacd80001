"""Domain errors: services raise them, the web layers turn them into problem JSON or form errors.

`message` is a catalog id with {placeholders} and `values` fill them, so pages show it in the
reader's language (`web.context.say`); `detail` is the English text, for the API and the logs.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 422
    title = "The request breaks a rule"
    code = "invalid"

    def __init__(
        self,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        code: str | None = None,
        values: dict[str, Any] | None = None,
    ) -> None:
        self.message, self.values = detail, values or {}
        self.detail = fill(detail, self.values)
        super().__init__(self.detail)
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


def fill(message: str, values: dict[str, Any]) -> str:
    """The English text; values that are message ids (`i18n.Term`) read as their English words."""
    from coordinator.i18n import Term, translate

    shown = {k: translate("en", v) if isinstance(v, Term) else v for k, v in values.items()}
    return message.format(**shown) if values else message


def field_error(field: str, message: str, **values: Any) -> dict[str, Any]:
    """What is wrong with one field: a message id, and its values when it has placeholders."""
    return {"field": field, "message": message, **({"values": values} if values else {})}


def english_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Field or row errors as the API states them: English text, placeholders filled in."""
    out = []
    for error in errors:
        plain = {k: v for k, v in error.items() if k not in ("values", "problems")}
        plain["message"] = fill(str(error.get("message", "")), error.get("values") or {})
        out.append(plain)
    return out
