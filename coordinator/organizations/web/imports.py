"""Importing members from a spreadsheet in the browser: check the file, show what would change,
then confirm; the checked file waits in the upload folder between the two steps."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Any

from litestar import get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template

from coordinator.auth import policy
from coordinator.errors import Invalid
from coordinator.http import DB, CurrentActor
from coordinator.i18n import translate
from coordinator.organizations import importer
from coordinator.organizations import service as organizations
from coordinator.organizations.web.sheets import organization_options
from coordinator.web.context import (
    FORM_ERROR,
    AnyRequest,
    error_text,
    flash,
    form_int,
    locale_of,
    page,
    redirect,
    say,
)

MANAGES_PEOPLE = [policy.guard(policy.manages_people)]


def _uploads(request: AnyRequest) -> Path:
    folder: Path = request.app.state.settings.var_dir / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@get("/members/import", guards=MANAGES_PEOPLE)
async def import_form(request: AnyRequest, db: DB, actor: CurrentActor) -> Template:
    return await _import_page(request, db, actor)


async def _import_page(
    request: AnyRequest,
    db: DB,
    actor: CurrentActor,
    status: int = 200,
    **context: Any,
) -> Template:
    lang = locale_of(request)
    tree = await organizations.organization_tree(db, actor)
    return page(
        request,
        "organizations/import.html",
        title=translate(lang, "Import members"),
        actor=actor,
        status_code=status,
        crumbs=[("/members", translate(lang, "Members"))],
        org_options=organization_options(line for line in tree if line.manageable),
        **context,
    )


@post("/members/import", guards=MANAGES_PEOPLE)
async def import_preview(
    request: AnyRequest,
    db: DB,
    actor: CurrentActor,
    data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)],
) -> Template:
    """Check the whole file and show what would change; nothing is saved yet."""
    lang = locale_of(request)
    org_id = form_int(data.get("organization_id")) or 0
    upload = data.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        errors = {"file": translate(lang, "Choose a file.")}
        return await _import_page(request, db, actor, FORM_ERROR, errors=errors, org=org_id)
    content = await upload.read(importer.MAX_BYTES + 1)
    try:
        preview = await importer.import_members(
            db, actor, org_id, content, upload.filename, dry_run=True
        )
    except Invalid as exc:
        return await _import_page(
            request,
            db,
            actor,
            FORM_ERROR,
            problem=_refusal(lang, exc),
            row_errors=[{**e, "message": error_text(lang, e)} for e in exc.errors or []],
            org=org_id,
        )
    key = secrets.token_urlsafe(16)
    (_uploads(request) / key).write_bytes(content)
    request.session["import"] = {"key": key, "filename": upload.filename, "org": org_id}
    return await _import_page(
        request, db, actor, preview=preview, filename=upload.filename, org=org_id
    )


@post("/members/import/confirm")
async def import_confirm(request: AnyRequest, db: DB, actor: CurrentActor) -> Redirect:
    pending = request.session.pop("import", None)
    if not pending:
        flash(request, "Nothing to import: upload the file again.", "error")
        return redirect("/members/import")
    path = _uploads(request) / pending["key"]
    try:
        content = path.read_bytes()
    except OSError:
        flash(request, "Nothing to import: upload the file again.", "error")
        return redirect("/members/import")
    try:
        result = await importer.import_members(
            db, actor, pending["org"], content, pending["filename"]
        )
    except Invalid:
        flash(request, "The file no longer fits the data; check it again.", "error")
        return redirect("/members/import")
    finally:
        path.unlink(missing_ok=True)
    _report(request, result)
    return redirect(f"/members?organization_id={pending['org']}")


def _report(request: AnyRequest, result: importer.ImportResult) -> None:
    flash(
        request,
        "Imported: {created} new, {updated} updated, {unchanged} unchanged.",
        created=result.created,
        updated=result.updated,
        unchanged=result.unchanged,
    )
    if result.warnings:
        flash(
            request,
            "{n} value(s) start like a spreadsheet formula; they were kept as typed.",
            "warning",
            n=len(result.warnings),
        )


def _refusal(lang: str, exc: Invalid) -> str:
    """A refused file says why in the reader's language, with its limits filled in."""
    return say(lang, exc)


ROUTES = [import_form, import_preview, import_confirm]
