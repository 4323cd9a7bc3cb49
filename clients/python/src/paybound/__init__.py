"""Paybound from Python: budgeted sessions, pay-and-fetch, sign-only payments, typed refusals.

    from paybound import Paybound, RefusalError

    with Paybound("http://127.0.0.1:8080", "pb_agent_…") as paybound:
        session = paybound.open_session("0.10")
        result = paybound.fetch(session.id, "https://api.example.com/paid")
        print(result.status, result.amount, result.remaining, result.text)

``paybound.aio.AsyncPaybound`` is the same client for asyncio; ``paybound.tools`` has the
tools for LangChain, the OpenAI Agents SDK, Strands and CrewAI.
"""

from ._catalogue import *  # noqa: F403  (one class per error code, generated)
from ._catalogue import __all__ as _catalogue_names
from .aio import AsyncPaybound
from .client import Paybound
from .errors import (
    AuthError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PayboundConnectionError,
    PayboundError,
    PayboundNoAnswerError,
    PayboundProtocolError,
    RefusalError,
    ServerError,
    UnavailableError,
    UpstreamError,
)
from .models import (
    Balance,
    CatalogItem,
    CatalogPage,
    FetchResult,
    Payment,
    PaymentHeader,
    PaymentStatus,
    Session,
    SessionEvent,
    SessionStatus,
    SignedPayment,
)

__version__ = "0.1.0"

__all__ = [
    "AsyncPaybound",
    "AuthError",
    "Balance",
    "CatalogItem",
    "CatalogPage",
    "ConflictError",
    "FetchResult",
    "InvalidRequestError",
    "NotFoundError",
    "Paybound",
    "PayboundConnectionError",
    "PayboundError",
    "PayboundNoAnswerError",
    "PayboundProtocolError",
    "Payment",
    "PaymentHeader",
    "PaymentStatus",
    "RefusalError",
    "ServerError",
    "Session",
    "SessionEvent",
    "SessionStatus",
    "SignedPayment",
    "UnavailableError",
    "UpstreamError",
    *_catalogue_names,
]
