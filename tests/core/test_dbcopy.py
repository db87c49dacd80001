"""The copy's verification: the row digest and the printed verdict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from coordinator.dbcopy import CopyReport, RowDigest, TableCheck, summary
from coordinator.models import metadata

AUDIT = metadata.tables["audit_event"]
AT = datetime(2026, 12, 1, 8, 30, 15, 123456, tzinfo=UTC)


def _row(**changes: object) -> tuple[object, ...]:
    values = {
        "id": 7,
        "at": AT,
        "actor_user_id": None,
        "action": "campaign.launch",
        "object_type": "campaign",
        "object_id": 3,
        "detail": {"created": 12, "by": "scheduler"},
    }
    values.update(changes)
    return tuple(values[c.name] for c in AUDIT.columns)


def _digest(*rows: tuple[object, ...]) -> str:
    digest = RowDigest(AUDIT)
    digest.add(rows)
    return digest.hexdigest()


def test_it_ignores_row_order_and_json_key_order():
    reordered_json = _row(id=8, detail={"by": "scheduler", "created": 12})
    assert _digest(_row(), _row(id=8)) == _digest(reordered_json, _row())


def test_it_sees_any_changed_value():
    base = _digest(_row(), _row(id=8))
    for changed in (
        _row(id=8, detail={"created": 13, "by": "scheduler"}),
        _row(id=8, at=AT + timedelta(microseconds=1)),
        _row(id=8, actor_user_id=1),
        _row(id=8, action="campaign.close"),
    ):
        assert _digest(_row(), changed) != base
    assert _digest(_row()) != base  # a missing row
    assert _digest(_row(), _row(id=8), _row(id=8)) != base  # a doubled row


def test_equal_instants_in_other_zones_are_equal():
    hanoi = AT.astimezone(timezone(timedelta(hours=7)))
    # Our timestamp type hands back UTC on both databases; the digest relies on that.
    assert AUDIT.c.at.type.process_result_value(hanoi, None) == AT
    assert _digest(_row(at=AUDIT.c.at.type.process_result_value(hanoi, None))) == _digest(_row())


def test_the_summary_points_at_the_mismatch():
    report = CopyReport(
        "0009",
        tables=[
            TableCheck("member", 10, 10, "a", "a"),
            TableCheck("report", 5, 4, "b", "c"),
        ],
        source_tallies={"campaign 1 reports done": 5},
        target_tallies={"campaign 1 reports done": 4},
    )
    lines = summary(report)
    assert not report.ok
    assert any(line.startswith("report") and "mismatch" in line for line in lines)
    assert not any(line.startswith("member") and "mismatch" in line for line in lines)
    assert "  campaign 1 reports done: source 5, target 4" in lines
