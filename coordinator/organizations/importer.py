"""Bulk import of members from CSV or XLSX: all rows or none, and re-importing changes nothing.

A row matches an existing member by (organization, code) when it has a code, otherwise by
(organization, display name). Errors name the file's line (CSV) or row (XLSX) number.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlmodel import col, select

from coordinator.auth import policy
from coordinator.auth.audit import audit
from coordinator.auth.scope import Actor
from coordinator.base import plain_digits, row_id
from coordinator.db import Database
from coordinator.errors import Invalid
from coordinator.organizations import import_writes as writes
from coordinator.organizations import uploads
from coordinator.organizations.members import LOCALES, check_member_fields
from coordinator.organizations.models import Club, Organization
from coordinator.sheets import formula_like

MAX_ROWS = 100_000  # a province's volunteers in one file
MAX_BYTES = uploads.MAX_BYTES
MAX_ERRORS = 200
MAX_WARNINGS = 200
FORMULA_WARNING = (
    "starts with {start}, which a spreadsheet could run as a formula; "
    "it is kept as typed and exported as text"
)
# Column names as people write them, in English and Vietnamese (accents and case ignored).
ALIASES = {
    "display_name": {"display_name", "name", "full name", "ho ten", "ho va ten", "ten"},
    "code": {"code", "member code", "ma", "ma doan vien", "ma so"},
    "organization": {"organization", "organisation", "org", "don vi", "to chuc", "co so doan"},
    "clubs": {"clubs", "club", "cau lac bo", "clb"},
    "locale": {"locale", "language", "lang", "ngon ngu"},
}


@lru_cache(maxsize=4096)  # organization and club names repeat on every row
def _fold(text: str) -> str:
    text = unicodedata.normalize("NFD", text.strip().lower().replace("đ", "d"))
    return "".join(c for c in text if not unicodedata.combining(c)).replace("_", " ")


def _column_for(header: str) -> str | None:
    folded = _fold(header)
    for column, names in ALIASES.items():
        if folded in {_fold(n) for n in names}:
            return column
    return None


@dataclass
class ParsedRow:
    line: int
    values: dict[str, str]


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)


def parse_table(data: bytes, filename: str) -> list[ParsedRow]:
    """Rows keyed by canonical column names; raises Invalid for an unusable file or header."""
    if len(data) > MAX_BYTES:
        raise uploads.FileRefused(
            "The file is larger than {limit} MB.", limit=MAX_BYTES // uploads.MB
        )
    if not data.strip():
        raise Invalid("The file is empty.")
    lower = filename.lower()
    if lower.endswith(".xlsx"):
        rows = uploads.rows_xlsx(data)
    elif lower.endswith((".csv", ".txt")):
        rows = uploads.rows_csv(data)
    else:
        raise Invalid("Upload a .csv or .xlsx file.")
    header_line, header = next(rows, (1, []))
    _check_cells(header_line, header)
    columns = [_column_for(h) for h in header]
    if "display_name" not in columns:
        raise Invalid(
            "The first row must name the columns, with at least a name column "
            "(display_name / họ tên).",
            errors=[
                {
                    "line": header_line,
                    "message": f"columns found: {header[:20]}",
                    "problems": [_problem("columns found: {found}", found=", ".join(header[:20]))],
                }
            ],
        )
    parsed = []
    for line, cells in rows:
        _check_cells(line, cells)
        if not any(c.strip() for c in cells):
            continue
        values = {col: cells[i].strip() for i, col in enumerate(columns) if col and i < len(cells)}
        parsed.append(ParsedRow(line=line, values=values))
        if len(parsed) > MAX_ROWS:
            raise uploads.FileRefused(
                "The file has more than {limit} rows (row {line}); split it.",
                limit=MAX_ROWS,
                line=line,
            )
    if not parsed:
        raise Invalid("The file has a header but no rows.")
    return parsed


def _check_cells(line: int, cells: list[str]) -> None:
    """The caps every row meets, whatever the format: rows, filled columns, cell length."""
    if line > uploads.MAX_LINES:
        raise uploads.too_many_lines(line)
    if len(cells) - cells.count("") > uploads.MAX_COLUMNS:
        raise uploads.too_many_columns(line)
    if max(map(len, cells), default=0) > uploads.MAX_CELL:
        raise uploads.cell_too_long(line)


def formula_warnings(rows: list[ParsedRow]) -> list[dict[str, Any]]:
    """Values that a spreadsheet would run as a formula: imported as typed, but flagged."""
    found = []
    for row in rows:
        for column, value in row.values.items():
            if formula_like(value):
                start = value[:1].replace("\t", "TAB").replace("\r", "CR")
                message = FORMULA_WARNING.format(start=start)
                found.append(
                    {"line": row.line, "field": column, "start": start, "message": message}
                )
    return found[:MAX_WARNINGS]


async def import_members(
    db: Database,
    actor: Actor,
    organization_id: int,
    data: bytes,
    filename: str,
    *,
    dry_run: bool = False,
) -> ImportResult:
    """Import into `organization_id` (rows may name a sub-organization by id or exact name).

    `dry_run` checks every row and counts new and known members without saving anything:
    the preview people see before they confirm."""
    policy.require_organization(actor, organization_id)
    rows = parse_table(data, filename)
    async with db.write() as session:
        if await session.get(Organization, organization_id) is None:
            raise Invalid("Organization {id} not found.", values={"id": organization_id})
        from coordinator.organizations.tree import subtree_ids

        allowed = await subtree_ids(session, [organization_id])
        orgs = (
            await session.scalars(select(Organization).where(col(Organization.id).in_(allowed)))
        ).all()
        clubs = (
            await session.scalars(select(Club).where(col(Club.organization_id).in_(allowed)))
        ).all()
        existing = await writes.known_members(session, allowed)
        plan = _plan(rows, organization_id, orgs, clubs, existing)
        if plan.errors:
            raise Invalid(
                "Nothing was imported: {n} row(s) have errors.",
                errors=plan.errors[:MAX_ERRORS],
                values={"n": len(plan.errors)},
            )
        warnings = formula_warnings(rows)
        if dry_run:
            known = sum(1 for p in plan.rows if p.existing is not None)
            return ImportResult(created=len(plan.rows) - known, updated=known, warnings=warnings)
        result = await _apply(session, plan, allowed)
        result.warnings = warnings
        audit(
            session,
            actor,
            "member.import",
            "organization",
            organization_id,
            filename=filename[:200],
            created=result.created,
            updated=result.updated,
            formula_like=len(warnings),
        )
    return result


@dataclass
class _Planned:
    line: int
    organization_id: int
    display_name: str
    code: str | None
    locale: str
    club_ids: list[int]
    existing: Any  # the known member's row (id, organization_id, display_name, code, locale)


@dataclass
class _Plan:
    rows: list[_Planned] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)


FIELD_LABELS = {"display_name": "Name", "code": "Code", "locale": "Language"}


def _problem(message: str, **values: Any) -> dict[str, Any]:
    """One thing wrong with a row: a message id and its values, translated by the page."""
    return {"message": message, "values": values}


def _row_error(line: int, problems: list[dict[str, Any]]) -> dict[str, Any]:
    """A refused row: `message` in English for the API, `problems` for the pages (a field's
    problem names the field by its label there)."""
    english = "; ".join(
        (f"{p['field']}: " if "field" in p else "") + p["message"].format(**p["values"])
        for p in problems
    )
    return {"line": line, "message": english, "problems": problems}


@dataclass
class _Known:
    """What the rows are checked against: the organizations, clubs and members in reach."""

    by_id: dict[int, Any]
    by_name: dict[str, list[int]]
    club_by_name: dict[tuple[int, str], int]
    by_code: dict[tuple[int, str], Any]
    by_display: dict[tuple[int, str], list[Any]]

    @classmethod
    def of(cls, orgs: Any, clubs: Any, existing: Any) -> _Known:
        by_name: dict[str, list[int]] = {}
        for o in orgs:
            by_name.setdefault(_fold(o.name), []).append(o.id)
        by_display: dict[tuple[int, str], list[Any]] = {}
        for m in existing:
            by_display.setdefault((m.organization_id, m.display_name), []).append(m)
        return cls(
            by_id={o.id: o for o in orgs},
            by_name=by_name,
            club_by_name={(c.organization_id, _fold(c.name)): c.id for c in clubs},
            by_code={(m.organization_id, m.code): m for m in existing if m.code},
            by_display=by_display,
        )

    def organization(self, ref: str, problems: list[dict[str, Any]]) -> int | None:
        matches = (
            [int(ref)]
            if plain_digits(ref) and int(ref) in self.by_id
            else self.by_name.get(_fold(ref), [])
        )
        if len(matches) == 1:
            return matches[0]
        problems.append(
            _problem(
                "organization {ref!r} is not one of the organizations you import into", ref=ref
            )
            if not matches
            else _problem("organization name {ref!r} is ambiguous; use its id", ref=ref)
        )
        return None


def _plan(
    rows: list[ParsedRow],
    default_org: int,
    orgs: Any,
    clubs: Any,
    existing: Any,
) -> _Plan:
    known = _Known.of(orgs, clubs, existing)
    plan, seen = _Plan(), set()
    for row in rows:
        problems: list[dict[str, Any]] = []
        v = row.values
        org_id = default_org
        if ref := v.get("organization"):
            org_id = known.organization(ref, problems) or default_org
        name, code, locale = (
            v.get("display_name", ""),
            v.get("code") or None,
            (v.get("locale") or "vi").lower(),
        )
        problems += [
            {**_problem(e["message"]), "field": e["field"], "label": FIELD_LABELS[e["field"]]}
            for e in check_member_fields(name, code, locale)
        ]
        club_ids = []
        for club in filter(
            None, (c.strip() for c in v.get("clubs", "").replace(",", ";").split(";"))
        ):
            if (org_id, _fold(club)) in known.club_by_name:
                club_ids.append(known.club_by_name[(org_id, _fold(club))])
            else:
                problems.append(
                    _problem("club {club!r} does not exist in that organization", club=club)
                )
        key = (org_id, code) if code else (org_id, name.strip())
        if key in seen:
            problems.append(_problem("the same member appears twice in the file"))
        seen.add(key)
        match = known.by_code.get((org_id, code)) if code else None
        if not code:
            candidates = known.by_display.get((org_id, name.strip()), [])
            if len(candidates) > 1:
                problems.append(_problem("several members have this name; add a code column"))
            match = candidates[0] if candidates else None
        if problems:
            plan.errors.append(_row_error(row.line, problems))
        elif locale in LOCALES:
            plan.rows.append(
                _Planned(row.line, org_id, name.strip(), code, locale, club_ids, match)
            )
    return plan


async def _apply(session: Any, plan: _Plan, allowed: Collection[int]) -> ImportResult:
    """Write the plan in set-based statements (see `import_writes`)."""
    new = [p for p in plan.rows if p.existing is None]
    known = [p for p in plan.rows if p.existing is not None]
    result = ImportResult(created=len(new))
    ids = await writes.insert_members(
        session,
        [writes.NewMember(p.organization_id, p.display_name, p.code, p.locale) for p in new],
    )
    links = [(m, c) for m, p in zip(ids, new, strict=True) for c in p.club_ids]
    current_clubs = await writes.clubs_within(session, allowed) if known else {}
    renamed, reclubbed = [], []
    for p in known:
        member, member_id = p.existing, row_id(p.existing)
        changed = member.display_name != p.display_name or member.locale != p.locale
        clubs_changed = sorted(set(p.club_ids)) != sorted(current_clubs.get(member_id, []))
        if changed:
            renamed.append((member_id, p.display_name, p.locale))
        if clubs_changed:
            reclubbed.append(member_id)
            links += [(member_id, c) for c in p.club_ids]
        if changed or clubs_changed:
            result.updated += 1
        else:
            result.unchanged += 1
    await writes.update_members(session, renamed)
    await writes.replace_clubs(session, reclubbed, links)
    return result
