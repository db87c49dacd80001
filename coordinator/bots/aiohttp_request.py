"""python-telegram-bot's HTTP layer on aiohttp instead of httpx.

Measured on this project's 2-core machine against the sandbox, 50 requests in flight: httpx
spent about 1.6 ms of CPU per Bot API call, aiohttp about 0.06 ms. The bot and the sender are
nothing but Bot API calls, so the client decides their throughput (docs/benchmarks.md).
"""

from __future__ import annotations

import json
from typing import Any, cast

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

JSON = {"Content-Type": "application/json"}


class NotSent(TimedOut):
    """Timed out before the request went out (no connection in time): safe to retry."""


class AiohttpRequest(BaseRequest):
    """One aiohttp session with a bounded connection pool; timeouts as python-telegram-bot's."""

    __slots__ = ("_connections", "_defaults", "_session")

    def __init__(
        self,
        connection_pool_size: int = 64,
        read_timeout: float | None = 15.0,
        write_timeout: float | None = 15.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 5.0,
    ) -> None:
        self._connections = connection_pool_size
        self._defaults = {
            "read": read_timeout,
            "write": write_timeout,
            "connect": connect_timeout,
            "pool": pool_timeout,
        }
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._defaults["read"]

    @property
    def connect_timeout(self) -> float | None:
        return self._defaults["connect"]

    @property
    def pool_timeout(self) -> float | None:
        return self._defaults["pool"]

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections),
                headers={"User-Agent": self.USER_AGENT},
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    def _timeout(self, **given: object) -> aiohttp.ClientTimeout:
        chosen = {
            name: self._defaults[name] if value is BaseRequest.DEFAULT_NONE else value
            for name, value in given.items()
        }

        def seconds(name: str) -> float | None:
            value = chosen[name]
            return float(value) if isinstance(value, int | float) else None

        pool, connect = seconds("pool"), seconds("connect")
        # aiohttp's `connect` covers waiting for a pooled connection and opening a new one.
        waiting = None if pool is None or connect is None else pool + connect
        read, write = seconds("read"), seconds("write")
        # Writing a small form is instant; the answer's wait is what `read` bounds.
        return aiohttp.ClientTimeout(
            total=None, connect=waiting, sock_connect=connect, sock_read=read or write
        )

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: object = BaseRequest.DEFAULT_NONE,
        write_timeout: object = BaseRequest.DEFAULT_NONE,
        connect_timeout: object = BaseRequest.DEFAULT_NONE,
        pool_timeout: object = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        if request_data is not None and request_data.contains_files:
            raise NetworkError("file uploads are not used by the coordinator")
        data: Any = None
        headers = None
        if isinstance(request_data, Form):  # the sender's lean calls (coordinator/bots/bot_api.py)
            data, headers = request_data.body, JSON
        elif request_data is not None:
            data = request_data.json_parameters
        timeout = self._timeout(
            read=read_timeout, write=write_timeout, connect=connect_timeout, pool=pool_timeout
        )
        try:
            async with self._session.request(
                method, url, data=data, headers=headers, timeout=timeout
            ) as response:
                return response.status, await response.read()
        except aiohttp.ConnectionTimeoutError as exc:
            raise NotSent("Timed out before the request was sent") from exc
        except TimeoutError as exc:
            raise TimedOut("Timed out waiting for Telegram's answer") from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {exc}") from exc


class Form:
    """Bot API parameters sent as one JSON body, which the Bot API accepts as well as a form:
    no `RequestParameter` for each and no percent-encoding of every Vietnamese letter (the
    largest cost left in a form-encoded send). `RequestData` is final; this has the shape
    `BaseRequest.post` passes on to `do_request`."""

    __slots__ = ("body",)
    contains_files = False

    def __init__(self, fields: dict[str, Any]) -> None:
        self.body = json.dumps(fields, ensure_ascii=False).encode()

    def as_request_data(self) -> RequestData:
        return cast(RequestData, self)
