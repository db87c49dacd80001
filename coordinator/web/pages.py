"""The landing page and a health check."""

from __future__ import annotations

from typing import Any

from litestar import get
from litestar.response import Template
from sqlalchemy import text

from coordinator.http import DB


@get("/", include_in_schema=False)
async def home() -> Template:
    return Template("pages/home.html")


@get("/health", include_in_schema=False)
async def health(db: DB) -> dict[str, Any]:
    async with db.read() as session:
        await session.execute(text("SELECT 1"))
    return {"status": "ok", "database": db.dialect}


PAGES = [home, health]
