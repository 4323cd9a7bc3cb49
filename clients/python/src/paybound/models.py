"""What Paybound answers, as typed, immutable values.

The models follow the OpenAPI document the governor serves at ``/docs/openapi.json``
(``tests/test_openapi_drift.py`` compares them with the live document). Field names are
the document's in snake_case; each field's ``metadata["json"]`` is its name on the wire.

USD amounts are :class:`~decimal.Decimal` (``Decimal("0.01")``), never floats; amounts in
an asset's atomic units are ``int``; times are timezone-aware ``datetime``. A field the
document does not describe is ignored rather than refused, so that a newer governor
does not break an older client; an enum value the client does not know is kept as is.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, TypeVar

import httpx

SessionStatus = Literal["open", "expired", "closed"]
PaymentStatus = Literal["awaiting_approval", "reserved", "signed", "settled", "refunded", "rejected", "unknown"]

T = TypeVar("T")


def _wire(name: str, *, atomic: bool = False) -> Any:
    """A field known on the wire as ``name``; ``atomic`` marks integer amounts sent as decimal strings."""
    return dataclasses.field(metadata={"json": name, "atomic": atomic})


@dataclasses.dataclass(frozen=True)
class Session:
    """An execution session: a hard limit under one agent, and its live balance."""

    id: str = _wire("id")
    agent_id: str = _wire("agentId")
    limit: Decimal = _wire("limit")
    reserved: Decimal = _wire("reserved")
    spent: Decimal = _wire("spent")
    remaining: Decimal = _wire("remaining")
    status: SessionStatus = _wire("status")
    expires_at: datetime = _wire("expiresAt")
    payments: int = _wire("payments")
    max_payments: int | None = _wire("maxPayments")
    metadata: Mapping[str, str] = _wire("metadata")
    created_at: datetime = _wire("createdAt")


@dataclasses.dataclass(frozen=True)
class Payment:
    """One payment and its status (``reserved`` → ``signed`` → ``settled``, or ``refunded`` / ``rejected``)."""

    id: str = _wire("id")
    session_id: str = _wire("sessionId")
    status: PaymentStatus = _wire("status")
    amount: Decimal = _wire("amount")
    amount_atomic: int | None = _wire("amountAtomic", atomic=True)
    asset: str | None = _wire("asset")
    network: str | None = _wire("network")
    pay_to: str | None = _wire("payTo")
    resource: str | None = _wire("resource")
    valid_before: datetime | None = _wire("validBefore")
    transaction: str | None = _wire("transaction")
    reason: str | None = _wire("reason")
    created_at: datetime = _wire("createdAt")


@dataclasses.dataclass(frozen=True)
class PaymentHeader:
    """A header the runtime sends with its retried request, such as ``PAYMENT-SIGNATURE``."""

    name: str = _wire("name")
    value: str = _wire("value")


@dataclasses.dataclass(frozen=True)
class SignedPayment(Payment):
    """A sign-only payment: ``header`` is set once the settlement worker has signed."""

    header: PaymentHeader | None = _wire("header")

    @property
    def headers_to_send(self) -> dict[str, str]:
        """Every header to add to the retried request (none until the payment is signed)."""
        return {} if self.header is None else {self.header.name: self.header.value}


@dataclasses.dataclass(frozen=True)
class CatalogItem:
    """A paid endpoint Paybound knows, with its price."""

    resource: str = _wire("resource")
    description: str = _wire("description")
    service_name: str | None = _wire("serviceName")
    tags: tuple[str, ...] = _wire("tags")
    network: str = _wire("network")
    scheme: str = _wire("scheme")
    asset: str = _wire("asset")
    pay_to: str = _wire("payTo")
    price: Decimal | None = _wire("price")
    price_atomic: int = _wire("priceAtomic", atomic=True)
    x402_version: int = _wire("x402Version")
    source: str = _wire("source")
    last_updated: datetime = _wire("lastUpdated")


@dataclasses.dataclass(frozen=True)
class CatalogPage:
    """One page of catalog results; ``has_more`` says whether ``offset`` can go further."""

    items: tuple[CatalogItem, ...] = _wire("items")
    has_more: bool = _wire("hasMore")


@dataclasses.dataclass(frozen=True)
class Balance:
    """A session's balance right after an event."""

    limit: Decimal = _wire("limit")
    reserved: Decimal = _wire("reserved")
    spent: Decimal = _wire("spent")
    remaining: Decimal = _wire("remaining")
    payments: int = _wire("payments")


@dataclasses.dataclass(frozen=True)
class SessionEvent:
    """One event of a session's stream (``Reserved``, ``PaymentSigned``, ``Settled``, …).

    ``stream_version`` is the SSE id: the stream resumes after it. ``data`` is the event as
    published (its schema is ``schemas/events/paybound.<event>.v1.json``), money fields as
    decimal strings named for their unit (``amountMicros``, ``amountAtomic``).
    """

    stream_version: int
    id: str = _wire("id")
    type: str = _wire("type")
    stream_id: str = _wire("streamId")
    position: str = _wire("position")
    org_id: str = _wire("orgId")
    actor: str = _wire("actor")
    correlation_id: str | None = _wire("correlationId")
    occurred_at: datetime = _wire("occurredAt")
    data: Mapping[str, Any] = _wire("data")
    balance: Balance | None = _wire("balance")

    @property
    def payment_id(self) -> str | None:
        """The payment the event is about, for payment events."""
        value = self.data.get("intentId")
        return value if isinstance(value, str) else None


@dataclasses.dataclass(frozen=True)
class FetchResult:
    """The seller's answer to a pay-and-fetch, and what Paybound paid for it.

    ``payment_id``, ``amount`` (USD) and ``remaining`` (USD left in the session) come from
    Paybound's ``Paybound-*`` headers and are ``None`` when nothing was paid.
    ``awaiting_approval`` is set when the payment waits for an admin (HTTP 202): poll it
    with ``get_payment``.
    """

    status: int
    headers: httpx.Headers
    content: bytes
    payment_id: str | None
    amount: Decimal | None
    remaining: Decimal | None
    awaiting_approval: SignedPayment | None = None

    @property
    def text(self) -> str:
        charset = self.headers.get("content-type", "").partition("charset=")[2].split(";")[0].strip() or "utf-8"
        try:
            return self.content.decode(charset, errors="replace")
        except LookupError:
            return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def paid(self) -> bool:
        return self.payment_id is not None and self.awaiting_approval is None


def decode(model: type[T], data: Any, **known: Any) -> T:
    """Builds ``model`` from a decoded JSON object (``known`` gives fields not on the wire).

    Raises ``ValueError`` when a field is missing or of another type.
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"{model.__name__}: a JSON object expected, got {type(data).__name__}")
    values: dict[str, Any] = dict(known)
    for field in _wire_fields(model):
        name = field.metadata["json"]
        try:
            values[field.name] = _value(_hints(model)[field.name], data.get(name), atomic=field.metadata["atomic"])
        except (ValueError, TypeError, ArithmeticError) as error:
            raise ValueError(f"{model.__name__}.{name}: {error}") from error
    return model(**values)


def wire_fields(model: type[Any]) -> dict[str, str]:
    """The wire name of each field of ``model`` (snake_case name → JSON name)."""
    return {field.name: field.metadata["json"] for field in _wire_fields(model)}


def _wire_fields(model: type[Any]) -> list[dataclasses.Field[Any]]:
    return [field for field in dataclasses.fields(model) if "json" in field.metadata]


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(model: type[Any]) -> dict[str, Any]:
    if model not in _HINTS:
        _HINTS[model] = typing.get_type_hints(model)
    return _HINTS[model]


def _value(hint: Any, raw: Any, *, atomic: bool) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if raw is None:
            if type(None) in args:
                return None
            raise ValueError("missing")
        (inner,) = [arg for arg in args if arg is not type(None)]
        return _value(inner, raw, atomic=atomic)
    if raw is None:
        raise ValueError("missing")
    if origin is Literal or hint is str:
        return _typed(raw, str)
    if hint is Decimal:
        return Decimal(_typed(raw, str))
    if hint is int:
        if atomic:
            text = _typed(raw, str)
            if not text.isdigit():
                raise ValueError(f"an integer string expected, got {text[:40]!r}")
            return int(text)
        if isinstance(raw, bool):
            raise TypeError("an integer expected, got a boolean")
        return _typed(raw, int)
    if hint is bool:
        return _typed(raw, bool)
    if hint is datetime:
        return _datetime(_typed(raw, str))
    if origin is tuple:
        return tuple(_value(args[0], item, atomic=atomic) for item in _typed(raw, list))
    if origin is Mapping:
        return types.MappingProxyType(dict(_typed(raw, dict)))
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return decode(hint, raw)
    raise TypeError(f"no decoder for {hint!r}")


def _typed(raw: Any, kind: type[T]) -> T:
    if not isinstance(raw, kind):
        raise TypeError(f"{kind.__name__} expected, got {type(raw).__name__}")
    return raw


def _datetime(text: str) -> datetime:
    # Python 3.10's fromisoformat does not read the "Z" suffix that JSON dates carry.
    parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    if parsed.tzinfo is None:
        raise ValueError(f"a time with its offset expected, got {text[:40]!r}")
    return parsed
