"""The asynchronous client: ``paybound.Paybound``'s API with ``await``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Mapping, Sequence
from decimal import Decimal
from types import TracebackType
from typing import Any, TypeVar

import httpx

from . import _core
from .client import settings
from .errors import PayboundConnectionError, PayboundError, PayboundNoAnswerError, PayboundProtocolError
from .models import CatalogPage, FetchResult, Payment, Session, SessionEvent, SignedPayment

T = TypeVar("T")


class AsyncPaybound:
    """The asynchronous client, for asyncio runtimes; see ``paybound.Paybound`` for the whole story.

    An agent's client: sessions, pay-and-fetch, sign-only payments, the catalog, the event stream.

    Spending calls (``open_session``, ``fetch``, ``request_payment``) carry an
    ``Idempotency-Key``: yours, or one generated per call; every retry of the call sends the
    same key, so Paybound holds and pays at most once. A call is retried only where that is
    safe: when the connection could not be made (nothing was sent), and when Paybound
    answers 503 with ``Retry-After``. Refusals raise the exception named after their code
    (``paybound.SessionLimitExceeded``, …), with ``limit``, ``requested`` and ``remaining``.

    Use it as a context manager, or call ``close()``, to release its connections.
    """

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        timeout_s: float = _core.TIMEOUT_S_DEFAULT,
        fetch_timeout_s: float = _core.FETCH_TIMEOUT_S_DEFAULT,
        retries_max: int = _core.RETRIES_MAX_DEFAULT,
        retry_after_max_s: float = _core.RETRY_AFTER_MAX_S_DEFAULT,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._url, self._api_key = settings(url, api_key)
        self._timeout_s = timeout_s
        self._fetch_timeout_s = fetch_timeout_s
        self._retries_max = retries_max
        self._retry_after_max_s = retry_after_max_s
        self._owns_http = http_client is None
        # Redirects are never followed: Paybound does not send them, and a spending call must
        # not be replayed somewhere else.
        self._http = http_client if http_client is not None else httpx.AsyncClient(follow_redirects=False)

    async def __aenter__(self) -> AsyncPaybound:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    # Sessions

    async def open_session(
        self,
        limit: Decimal | str,
        *,
        expires_in_minutes: int | None = None,
        max_payments: int | None = None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Session:
        """Opens a session with a hard limit in USD (``"2.00"`` or ``Decimal("2.00")``)."""
        return await self._call(_core.open_session(limit, expires_in_minutes, max_payments, metadata, idempotency_key))

    async def get_session(self, session_id: str) -> Session:
        """The session's live balance."""
        return await self._call(_core.get_session(session_id))

    async def close_session(self, session_id: str) -> Session:
        """Closes the session: it takes no new payments (``SessionClosed``); held payments still settle."""
        return await self._call(_core.close_session(session_id))

    # Paying

    async def fetch(
        self,
        session_id: str,
        url: str,
        *,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        body: str | None = None,
        json: Mapping[str, Any] | Sequence[Any] | None = None,
        max_price: Decimal | str | None = None,
        idempotency_key: str | None = None,
    ) -> FetchResult:
        """Pay-and-fetch: Paybound calls ``url`` and pays its x402 paywall within the session.

        Answers the seller's status, headers and body, with what was paid and what remains.
        A refusal raises (``SessionLimitExceeded``, ``PriceAboveMax``, …); the seller's own
        errors are answers, not exceptions.
        """
        return await self._call(
            _core.fetch(session_id, url, method, headers, body, json, max_price, idempotency_key, self._fetch_timeout_s)
        )

    async def request_payment(
        self,
        session_id: str,
        payment_required: str | Mapping[str, Any],
        url: str,
        *,
        method: str | None = None,
        idempotency_key: str | None = None,
    ) -> SignedPayment:
        """Sign-only: Paybound decides and signs; you send ``headers_to_send`` with your own retry.

        ``payment_required`` is the seller's ``PAYMENT-REQUIRED`` header value or its v1 402
        JSON body. Until the worker has signed, ``status`` is ``reserved`` and ``header``
        is None: poll ``get_payment``. Report the seller's answer with ``report_result``.
        """
        return await self._call(_core.request_payment(session_id, payment_required, url, method, idempotency_key))

    async def report_result(self, payment_id: str, status: int, *, payment_response: str | None = None) -> Payment:
        """Reports the seller's answer to a sign-only payment (its ``PAYMENT-RESPONSE`` header, if any)."""
        return await self._call(_core.report_result(payment_id, status, payment_response))

    async def get_payment(self, payment_id: str) -> SignedPayment:
        """A payment; while it is signed and unreported, with the header to send."""
        return await self._call(_core.get_payment(payment_id))

    # Finding and watching

    async def search_catalog(
        self,
        q: str | None = None,
        *,
        max_price: Decimal | str | None = None,
        network: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> CatalogPage:
        """Paid endpoints Paybound knows, best match first with ``q``, otherwise cheapest first."""
        return await self._call(_core.search_catalog(q, max_price, network, limit, offset))

    async def stream_events(
        self, session_id: str, *, after: int | None = None, reconnects_max: int = _core.STREAM_RECONNECTS_MAX_DEFAULT
    ) -> AsyncGenerator[SessionEvent, None]:
        """Every event of the session, from its first (or after the event ``after``) and then
        as it happens, with the session's balance after each.

        The iterator does not end by itself: stop when you have what you wait for (leaving
        the loop closes the connection). A dropped connection is opened again from the last
        event's id, so no event is lost or repeated; after ``reconnects_max`` failures in a
        row without an event, the last failure is raised.
        """
        last_id = after
        failures = 0
        while True:
            call = _core.stream_call(session_id, last_id)
            decoder: _core.SseDecoder | None = None
            # What ended this connection, unless it raised: the server closing it ends it too.
            failure: PayboundError = PayboundNoAnswerError("the event stream ended")
            delay_s: float | None = None
            request = call.request(
                self._http, self._url, self._api_key, self._timeout_s, _core.stream_timeout(self._timeout_s)
            )
            try:
                response = await self._http.send(request, stream=True)
                try:
                    if response.status_code != 200:
                        content = await self._read_capped(response, call)
                        delay_s = _core.answer_retry_delay_s(
                            failures + 1, response, content, reconnects_max, self._retry_after_max_s, _core.utc_now()
                        )
                        if delay_s is None:
                            call.read(response, content)
                        failure = _core.problem_error(response, content, None)
                    else:
                        decoder = _core.SseDecoder()
                        async for line in response.aiter_lines():
                            message = decoder.feed(line)
                            if message is None:
                                continue
                            event = _core.session_event(message[0], message[2])
                            last_id = event.stream_version
                            failures = 0
                            yield event
                finally:
                    await response.aclose()
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
                failure = PayboundConnectionError(f"could not connect to Paybound at {self._url}: {error}")
            except httpx.TransportError as error:
                failure = PayboundNoAnswerError(f"the event stream broke: {error!r}")
            except PayboundNoAnswerError as error:
                failure = error
            failures += 1
            if failures > reconnects_max:
                raise failure
            await asyncio.sleep(delay_s if delay_s is not None else _core.reconnect_delay_s(decoder))

    # Sending

    async def _call(self, call: _core.Call[T]) -> T:
        attempt = 0
        while True:
            attempt += 1
            request = call.request(self._http, self._url, self._api_key, self._timeout_s)
            try:
                response = await self._http.send(request, stream=True)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
                delay_s = _core.connect_retry_delay_s(attempt, self._retries_max)
                if delay_s is None:
                    raise PayboundConnectionError(
                        f"could not connect to Paybound at {self._url} in {attempt} attempts: {error}",
                        idempotency_key=call.idempotency_key,
                    ) from error
                await asyncio.sleep(delay_s)
                continue
            except httpx.TransportError as error:
                raise PayboundNoAnswerError(
                    f"{call.method} {call.path} was sent but not answered: {error!r}",
                    idempotency_key=call.idempotency_key,
                ) from error
            try:
                content = await self._read_capped(response, call)
            finally:
                await response.aclose()
            delay_s = _core.answer_retry_delay_s(
                attempt, response, content, self._retries_max, self._retry_after_max_s, _core.utc_now()
            )
            if delay_s is None:
                return call.read(response, content)
            await asyncio.sleep(delay_s)

    @staticmethod
    async def _read_capped(response: httpx.Response, call: _core.Call[Any]) -> bytes:
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > call.answer_bytes_max:
                    raise PayboundProtocolError(
                        f"the answer exceeds {call.answer_bytes_max} bytes",
                        status=response.status_code,
                        idempotency_key=call.idempotency_key,
                    )
                chunks.append(chunk)
        except httpx.TransportError as error:
            raise PayboundNoAnswerError(
                f"{call.method} {call.path}: the answer was cut off: {error!r}", idempotency_key=call.idempotency_key
            ) from error
        return b"".join(chunks)
