"""What goes wrong, as exceptions.

Every answer of Paybound that is not a success is an RFC 9457 problem with a stable
``code``; the client raises the class named after that code (``SessionLimitExceeded`` for
``session_limit_exceeded``), generated from the product's error catalogue into
``paybound._catalogue``. Each code's class derives from the base of its kind, so callers can
catch as narrowly or as broadly as they need::

    try:
        client.fetch(session.id, url)
    except paybound.SessionLimitExceeded as refused:    # one code
        ...
    except paybound.RefusalError as refused:            # any budget or policy refusal
        print(refused.code, refused.limit, refused.requested, refused.remaining)
    except paybound.PayboundError:                      # anything
        ...

Three more classes describe failures where Paybound gave no usable answer: the connection
could not be made (nothing was sent: ``PayboundConnectionError``), no answer came back
(the outcome is unknown: ``PayboundNoAnswerError``, call again with the same
``idempotency_key``), or the answer could not be read (``PayboundProtocolError``).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar


class PayboundError(Exception):
    """Any failure of a call to Paybound.

    ``status`` is the HTTP status (0 when Paybound gave no answer), ``code`` the problem's
    stable code, ``detail`` its human sentence, and ``figures`` every other member of the
    problem (``field``, ``limit``, ``paymentId``, …) as Paybound sent it.
    ``idempotency_key`` is the key a spending call was sent with: calling again with it can
    never pay twice.
    """

    # What the catalogue says about the code; the generated subclasses fill these in.
    CODE: ClassVar[str | None] = None
    KIND: ClassVar[str | None] = None
    HTTP_STATUS: ClassVar[int | None] = None
    GRPC_STATUS: ClassVar[str | None] = None
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = ""

    def __init__(
        self,
        detail: str,
        *,
        status: int,
        code: str | None = None,
        figures: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        self.status = status
        self.code = code if code is not None else (self.CODE or f"http_{status}")
        self.detail = detail
        self.figures: dict[str, Any] = dict(figures or {})
        self.idempotency_key = idempotency_key
        super().__init__(f"{self.code}: {detail}")

    @property
    def payment_id(self) -> str | None:
        """The payment this problem is about, when Paybound named one."""
        value = self.figures.get("paymentId")
        return value if isinstance(value, str) else None


class RefusalError(PayboundError):
    """A payment refused by a budget or a policy (HTTP 403, recorded as ``LimitExceeded``).

    ``limit``, ``requested`` and ``remaining`` are USD amounts, present where they apply:
    a budget refusal has all three, a payee rule none. ``level`` says who refused
    (``session``, ``agent``, ``team``, ``org``, ``policy``, ``wallet`` or ``request``).
    """

    @property
    def level(self) -> str | None:
        value = self.figures.get("level")
        return value if isinstance(value, str) else None

    @property
    def limit(self) -> Decimal | None:
        return _usd_figure(self.figures.get("limit"))

    @property
    def requested(self) -> Decimal | None:
        return _usd_figure(self.figures.get("requested"))

    @property
    def remaining(self) -> Decimal | None:
        return _usd_figure(self.figures.get("remaining"))


class AuthError(PayboundError):
    """The key is missing, unknown or revoked, or may not use this API (401/403)."""


class InvalidRequestError(PayboundError):
    """Something the caller must fix (4xx); ``field`` names the input when Paybound knows it."""

    @property
    def field(self) -> str | None:
        value = self.figures.get("field")
        return value if isinstance(value, str) else None


class NotFoundError(PayboundError):
    """Unknown, or not the caller's (Paybound does not reveal which)."""


class ConflictError(PayboundError):
    """The request conflicts with what already happened (409/412)."""


class UpstreamError(PayboundError):
    """The seller or a chain failed (502/504); ``payment_id`` is set when a payment was sent."""


class UnavailableError(PayboundError):
    """Paybound cannot do it now (503); the client already retried when ``Retry-After`` allowed."""


class ServerError(PayboundError):
    """Paybound failed (500); the same call with the same idempotency key is safe."""


class PayboundConnectionError(PayboundError):
    """No connection could be made, so nothing was sent (after the allowed retries)."""

    def __init__(self, detail: str, *, idempotency_key: str | None = None) -> None:
        super().__init__(detail, status=0, code="unreachable", idempotency_key=idempotency_key)


class PayboundNoAnswerError(PayboundError):
    """The request was sent but no answer came back (a timeout or a cut connection), so
    whether it took effect is unknown.

    A spending call can be repeated with ``idempotency_key=error.idempotency_key``: Paybound
    answers the first outcome and never holds or pays twice.
    """

    def __init__(self, detail: str, *, idempotency_key: str | None = None) -> None:
        super().__init__(detail, status=0, code="no_answer", idempotency_key=idempotency_key)


class PayboundProtocolError(PayboundError):
    """An answer that is not what Paybound sends: not JSON, too large, or cut off."""

    def __init__(self, detail: str, *, status: int, idempotency_key: str | None = None) -> None:
        super().__init__(detail, status=status, code="bad_answer", idempotency_key=idempotency_key)


#: The base class of each catalogue kind; the generator derives every code's class from one.
KIND_BASES: Mapping[str, type[PayboundError]] = {
    "refusal": RefusalError,
    "auth": AuthError,
    "invalid_request": InvalidRequestError,
    "not_found": NotFoundError,
    "conflict": ConflictError,
    "upstream": UpstreamError,
    "unavailable": UnavailableError,
    "internal": ServerError,
}


def _usd_figure(value: Any) -> Decimal | None:
    # Figures are decimal strings; anything else (absent, null, a count) is not an amount.
    if not isinstance(value, str):
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        return None
