"""The ceiling a sender is measured against: a bare aiohttp loop posting sendMessage.

No database, no pacing, no python-telegram-bot: `concurrency` coroutines over one aiohttp
session post (as JSON, the cheapest encoding) a message of an assignment's size with its three
buttons to each chat and read only `message_id` from the answer. What a sender reaches of this
rate is what it keeps of the client and the Bot API it talks to (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import time

import aiohttp

TEXT = (
    "<b>Nhiệm vụ: Cảnh giác lừa đảo trực tuyến</b>\n"
    "Chia sẻ bài viết của Tỉnh đoàn trước hạn chót. "
    "Bấm ✅ khi đã nhận, 🏁 khi đã làm xong.\n" * 4
)
MARKUP = {
    "inline_keyboard": [
        [
            {"text": "✅ Đã nhận", "callback_data": "t:1:ack"},
            {"text": "🏁 Đã xong", "callback_data": "t:1:done"},
            {"text": "✖ Không làm được", "callback_data": "t:1:no"},
        ]
    ]
}


async def bare_rate(bot_url: str, chats: list[int], concurrency: int = 64) -> tuple[float, float]:
    """Messages per second to `chats` (one each) through `bot_url` (…/bot<token>), and this
    process's CPU milliseconds per message."""
    waiting = iter(chats)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def worker() -> None:
            for chat in waiting:
                body = {"chat_id": chat, "text": TEXT, "parse_mode": "HTML", "reply_markup": MARKUP}
                async with http.post(f"{bot_url}/sendMessage", json=body) as response:
                    answer = await response.json()
                    assert answer["result"]["message_id"]

        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        cpu_ms = (time.process_time() - cpu) * 1000 / len(chats)
        return len(chats) / (time.perf_counter() - started), cpu_ms
