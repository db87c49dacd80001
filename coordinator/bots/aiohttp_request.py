"""python-telegram-bot's HTTP layer on aiohttp instead of httpx.

Measured on this project's 2-core machine against the sandbox, 50 requests in flight: httpx
spent about 1.6 ms of CPU per Bot API call, aiohttp about 0.06 ms. The bot and the sender are
nothing but Bot API calls, so the client decides their throughput (docs/benchmarks.md).
"""

from __future__ import annotations

from typing import Any, cast

import aiohttp
import msgspec
from telegram.error import NetworkError, TelegramError, TimedOut
from telegram.request import BaseRequest, RequestData

JSON = {"Content-Type": "application/json"}


class NotSent(TimedOut):
    """Timed out before the request went out (no connection in time): safe to retry."""


class AiohttpRequest(BaseRequest):
    """One aiohttp session with a bounded connection pool; timeouts as python-telegram-bot's."""

    __slots__ = ("_connections", "_default_timeout", "_defaults", "_session")

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
        self._default_timeout = self._timeout(**dict.fromkeys(self._defaults, self.DEFAULT_NONE))

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
        return await self._exchange(method, url, data, headers, timeout)

    async def post_json(self, url: str, body: bytes) -> Any:
        """The sender's lean call: a JSON body out, the answer's `result` back, with the default
        timeouts and the library's own exceptions, without its wrappers around every request."""
        try:
            code, payload = await self._exchange("POST", url, body, JSON, self._default_timeout)
        except TelegramError:
            raise
        except Exception as exc:  # as BaseRequest's wrapper does for any other failure
            raise NetworkError(f"Unknown error in HTTP implementation: {exc!r}") from exc
        if 200 <= code <= 299:
            return self.parse_json_payload(payload)["result"]
        # An error answer: the library itself turns it into RetryAfter, ChatMigrated, Forbidden,
        # BadRequest, ... (rare, so its full path costs nothing that matters).
        return await _Answered(code, payload).post(url)

    async def _exchange(
        self, method: str, url: str, data: Any, headers: Any, limits: aiohttp.ClientTimeout
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        try:
            async with self._session.request(
                method, url, data=data, headers=headers, timeout=limits
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
        self.body = msgspec.json.encode(fields)  # UTF-8 as it is, like ensure_ascii=False

    def as_request_data(self) -> RequestData:
        return cast(RequestData, self)


class _Answered(BaseRequest):
    """An answer already received, handed to `BaseRequest.post` so that the library maps its
    status and description to exceptions exactly as it would have for its own request."""

    __slots__ = ("_answer",)

    def __init__(self, code: int, payload: bytes) -> None:
        self._answer = (code, payload)

    @property
    def read_timeout(self) -> float | None:
        return None

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def do_request(self, *args: object, **kwargs: object) -> tuple[int, bytes]:
        return self._answer
