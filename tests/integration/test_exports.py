"""Exports are scoped like the pages: leadership gets aggregates with "<5", never names; a lead
gets their own people's names only; XLSX opens in a spreadsheet with localized headers."""

from __future__ import annotations

import io
import os
from typing import Any

from litestar.testing import AsyncTestClient
from openpyxl import load_workbook

from coordinator.app import create_app
from coordinator.campaigns import service as campaigns
from coordinator.settings import read_settings
from tests.factories import build_world
from tests.integration.test_web_authorization import sign_in


async def _launched(db) -> tuple[Any, int]:
    world = await build_world(db)
    campaign_id = await world.campaign()
    await campaigns.launch_campaign(db, world.actor["coordinator"], campaign_id)
    return world, campaign_id


async def _get(db, who: str, path: str) -> Any:
    app = create_app(read_settings({**os.environ, "COORDINATOR_DATABASE_URL": db.url}))
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, who)
        return await client.get(path)


async def test_leadership_gets_aggregates_without_names(db):
    _, campaign_id = await _launched(db)
    response = await _get(db, "leadership", f"/campaigns/{campaign_id}/export/csv")
    assert response.status_code == 200
    text = response.content.decode("utf-8-sig")
    assert "Đoàn viên" not in text  # no member names
    lines = text.strip().splitlines()
    assert lines[0].startswith("Đơn vị,được giao,đã nhận tin")
    assert any(line.startswith("Huyện đoàn A,<5,") for line in lines)  # 3 people: hidden
    period = await _get(db, "leadership", "/participation/export/csv")
    assert "Đoàn viên" not in period.content.decode("utf-8-sig")


async def test_a_lead_gets_the_names_of_their_own_people_only(db):
    world, campaign_id = await _launched(db)
    lead = (await _get(db, "lead", f"/campaigns/{campaign_id}/export/csv")).content.decode()
    coordinator = (
        await _get(db, "coordinator", f"/campaigns/{campaign_id}/export/csv")
    ).content.decode()
    for name in ("Đoàn viên d1", "Đoàn viên d2", "Đoàn viên d3", "Đoàn viên c1"):
        assert name in lead and name in coordinator
    outsider = await _get(db, "outsider-lead", f"/campaigns/{campaign_id}/export/csv")
    assert outsider.status_code == 404
    del world


async def test_the_xlsx_export_opens_with_its_rows(db):
    _, campaign_id = await _launched(db)
    response = await _get(db, "coordinator", f"/campaigns/{campaign_id}/export/xlsx")
    assert response.headers["content-disposition"].endswith('.xlsx"')
    sheet = load_workbook(io.BytesIO(response.content), read_only=True).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("Đơn vị", "Tên", "Mã")
    assert len(rows) == 5 and {r[3] for r in rows[1:]} == {"chưa gửi"}
