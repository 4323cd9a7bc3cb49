"""Tools for agent frameworks: ``paid_fetch``, ``session_balance`` and ``search_catalog``.

Each framework module (``paybound.tools.langchain``, ``.openai_agents``, ``.strands``,
``.crewai``) is a thin layer over the toolkits here, which hold one session and answer
text a model can read: JSON with the seller's answer and what it cost, the balance, or
the catalog. A refusal (budget, policy, price) is an answer too, with its code and
figures, so that a model can choose a cheaper source instead of the run ending; only a
Paybound that cannot be reached raises, because that is the developer's to fix.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from ..aio import AsyncPaybound
from ..client import Paybound
from ..errors import PayboundError, RefusalError
from ..models import CatalogPage, FetchResult, Session

#: Models get a bounded excerpt of a page: a whole page does not belong in a context window.
BODY_CHARS_MAX_DEFAULT = 20_000
CATALOG_LIMIT_DEFAULT = 10

PAID_FETCH_DESCRIPTION = (
    "Fetch a URL over HTTP. If it is behind an x402 paywall (HTTP 402), Paybound pays it from this "
    "session's limited budget. The result gives the status, the body, what was paid in USD and what "
    "remains; if Paybound refuses (budget, policy, price), it says why with the figures."
)
SESSION_BALANCE_DESCRIPTION = (
    "The session's budget in USD: its limit, what is held, spent and remaining, and payments made."
)
SEARCH_CATALOG_DESCRIPTION = (
    "Search the paid endpoints Paybound knows (from x402 discovery and payments seen), with their "
    "prices in USD: best match first for a query, cheapest first otherwise."
)


def _usd(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def fetch_output(result: FetchResult, body_chars_max: int) -> dict[str, Any]:
    text = result.text
    output: dict[str, Any] = {
        "status": result.status,
        "contentType": result.headers.get("content-type"),
        "body": text[:body_chars_max],
        "truncated": len(text) > body_chars_max,
        "paid": _usd(result.amount) if result.paid else None,
        "remaining": _usd(result.remaining),
        "paymentId": result.payment_id,
    }
    if result.awaiting_approval is not None:
        output["awaitingApproval"] = True
        output["body"] = "The payment waits for an administrator's approval; nothing was fetched yet."
    return output


def error_output(error: PayboundError) -> dict[str, Any]:
    """A problem Paybound answered, as something a model can read and act on."""
    output: dict[str, Any] = {
        "refused" if isinstance(error, RefusalError) else "error": error.code,
        "detail": error.detail,
    }
    if isinstance(error, RefusalError):
        output.update(
            level=error.level, limit=_usd(error.limit), requested=_usd(error.requested), remaining=_usd(error.remaining)
        )
    for name in ("field", "paymentId"):
        if name in error.figures:
            output[name] = error.figures[name]
    return output


def balance_output(session: Session) -> dict[str, Any]:
    return {
        "sessionId": session.id,
        "status": session.status,
        "limit": _usd(session.limit),
        "reserved": _usd(session.reserved),
        "spent": _usd(session.spent),
        "remaining": _usd(session.remaining),
        "payments": session.payments,
        "expiresAt": session.expires_at.isoformat(),
    }


def catalog_output(page: CatalogPage) -> dict[str, Any]:
    return {
        "items": [
            {
                "url": item.resource,
                "description": item.description,
                "price": _usd(item.price),
                "network": item.network,
                "service": item.service_name,
                "tags": list(item.tags),
            }
            for item in page.items
        ],
        "hasMore": page.has_more,
    }


def text(output: dict[str, Any]) -> str:
    return json.dumps(output, ensure_ascii=False)


def told(error: PayboundError | ValueError) -> str:
    """What the tool answers for a failed call; raises what is not the model's to handle.

    A problem Paybound answered (a refusal, an invalid URL, an unknown session) and an
    argument the client refuses are told. Status 0, where Paybound could not be reached or
    did not answer, is raised: the developer must see it, and a model retrying it would
    send a new Idempotency-Key.
    """
    if isinstance(error, PayboundError):
        if error.status == 0:
            raise error
        return text(error_output(error))
    return text({"error": "invalid_request", "detail": str(error)})


class PayboundToolkit:
    """The three tools over one session of a synchronous client; each returns JSON text."""

    def __init__(self, client: Paybound, session_id: str, *, body_chars_max: int = BODY_CHARS_MAX_DEFAULT) -> None:
        self.client = client
        self.session_id = session_id
        self.body_chars_max = body_chars_max

    def paid_fetch(
        self,
        url: str,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        body: str | None = None,
        max_price: str | None = None,
    ) -> str:
        try:
            result = self.client.fetch(
                self.session_id, url, method=method, headers=headers, body=body, max_price=max_price
            )
        except (PayboundError, ValueError) as error:
            return told(error)
        return text(fetch_output(result, self.body_chars_max))

    def session_balance(self) -> str:
        try:
            return text(balance_output(self.client.get_session(self.session_id)))
        except (PayboundError, ValueError) as error:
            return told(error)

    def search_catalog(
        self,
        query: str | None = None,
        max_price: str | None = None,
        network: str | None = None,
        limit: int = CATALOG_LIMIT_DEFAULT,
    ) -> str:
        try:
            page = self.client.search_catalog(query, max_price=max_price, network=network, limit=limit)
        except (PayboundError, ValueError) as error:
            return told(error)
        return text(catalog_output(page))


class AsyncPayboundToolkit:
    """The three tools over one session of an asynchronous client; each returns JSON text."""

    def __init__(self, client: AsyncPaybound, session_id: str, *, body_chars_max: int = BODY_CHARS_MAX_DEFAULT) -> None:
        self.client = client
        self.session_id = session_id
        self.body_chars_max = body_chars_max

    async def paid_fetch(
        self,
        url: str,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        body: str | None = None,
        max_price: str | None = None,
    ) -> str:
        try:
            result = await self.client.fetch(
                self.session_id, url, method=method, headers=headers, body=body, max_price=max_price
            )
        except (PayboundError, ValueError) as error:
            return told(error)
        return text(fetch_output(result, self.body_chars_max))

    async def session_balance(self) -> str:
        try:
            return text(balance_output(await self.client.get_session(self.session_id)))
        except (PayboundError, ValueError) as error:
            return told(error)

    async def search_catalog(
        self,
        query: str | None = None,
        max_price: str | None = None,
        network: str | None = None,
        limit: int = CATALOG_LIMIT_DEFAULT,
    ) -> str:
        try:
            page = await self.client.search_catalog(query, max_price=max_price, network=network, limit=limit)
        except (PayboundError, ValueError) as error:
            return told(error)
        return text(catalog_output(page))


def toolkit(
    client: Paybound | AsyncPaybound, session_id: str, **options: Any
) -> PayboundToolkit | AsyncPayboundToolkit:
    """The toolkit for a client of either kind."""
    if isinstance(client, AsyncPaybound):
        return AsyncPayboundToolkit(client, session_id, **options)
    return PayboundToolkit(client, session_id, **options)


__all__ = [
    "PAID_FETCH_DESCRIPTION",
    "SEARCH_CATALOG_DESCRIPTION",
    "SESSION_BALANCE_DESCRIPTION",
    "AsyncPayboundToolkit",
    "PayboundToolkit",
    "toolkit",
]
