"""The Telegram webhook: check the secret, keep the update, answer 200 at once.

The update is stored in the inbox (telegram_update) and handled by the bot's inbox loop, in this
process or a worker, so Telegram never waits on our handling and never has to retry. The
default bot posts to /telegram/webhook, another bot to /telegram/webhook/<its name>.
"""

from __future__ import annotations

import hmac
from typing import Any

from litestar import Request, post
from litestar.exceptions import NotAuthorizedException, NotFoundException, ValidationException
from sqlmodel import select

from coordinator.bots import updates
from coordinator.bots.models import BotRecord
from coordinator.delivery.models import DEFAULT_BOT
from coordinator.http import DB


@post("/telegram/webhook/{name:str}", status_code=200, include_in_schema=False)
async def bot_webhook(request: Request[Any, Any, Any], db: DB, name: str) -> dict[str, bool]:
    """Another bot's webhook: the same, for the bot of that name (the secret first, so that
    nobody without it learns which names exist)."""
    _check_secret(request)
    async with db.read() as session:
        bot = await session.scalar(select(BotRecord.id).where(BotRecord.name == name))
    if bot is None or bot == DEFAULT_BOT:
        raise NotFoundException("No such bot.")
    return await _accept(request, db, bot)


@post("/telegram/webhook", status_code=200, include_in_schema=False)
async def telegram_webhook(request: Request[Any, Any, Any], db: DB) -> dict[str, bool]:
    return await _accept(request, db, DEFAULT_BOT)


def _check_secret(request: Request[Any, Any, Any]) -> None:
    expected = request.app.state.settings.webhook_secret or ""
    given = request.headers.get("x-telegram-bot-api-secret-token", "")
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise NotAuthorizedException("Wrong or missing secret token.")


async def _accept(request: Request[Any, Any, Any], db: DB, bot: int) -> dict[str, bool]:
    _check_secret(request)
    try:
        payload = await request.json()
    except Exception:  # not JSON at all: refused, and the inbox is not touched
        raise ValidationException("The body is not JSON.") from None
    update_id = payload.get("update_id") if isinstance(payload, dict) else None
    # bool is an int to Python; Telegram's ids are positive and fit a signed 64-bit column.
    if type(update_id) is not int or not 0 < update_id < 2**63:
        raise ValidationException("An update needs an integer update_id.")
    await updates.store(db, payload, bot)
    return {"ok": True}
