"""What the sync and async clients share: the calls, the retry rule, problems, SSE.

Everything here is free of I/O, so both clients run the same decisions and only the
sending (``httpx.Client`` or ``httpx.AsyncClient``) and the sleeping differ.
"""

from __future__ import annotations

import dataclasses
import email.utils
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx

from ._catalogue import ERRORS_BY_CODE
from .errors import (
    AuthError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PayboundError,
    PayboundProtocolError,
    RefusalError,
    ServerError,
    UnavailableError,
    UpstreamError,
)
from .models import CatalogPage, FetchResult, Payment, Session, SessionEvent, SignedPayment, decode

T = TypeVar("T")

VERSION = "0.1.0"
USER_AGENT = f"paybound-python/{VERSION}"
#: Paybound's own problems are typed under this URL; a seller's problem+json is not.
PROBLEM_TYPE_PREFIX = "https://paybound.dev/problems/"
#: Paybound's JSON answers are small; a larger one is a fault, not something to buffer.
JSON_ANSWER_BYTES_MAX = 1024 * 1024
#: The governor passes at most 5 MiB of a seller's body; the rest is headroom for headers.
FETCH_ANSWER_BYTES_MAX = 6 * 1024 * 1024
#: One SSE event of a session is a few kilobytes; a larger one is a fault.
STREAM_EVENT_BYTES_MAX = 256 * 1024
TIMEOUT_S_DEFAULT = 30.0
#: A paid fetch includes the seller's answer and the settlement, so it gets longer.
FETCH_TIMEOUT_S_DEFAULT = 120.0
#: The stream sends a heartbeat every 15 s; three missed ones mean the connection is dead.
STREAM_READ_TIMEOUT_S = 45.0
RETRIES_MAX_DEFAULT = 2
#: A longer Retry-After is reported to the caller instead of waited for.
RETRY_AFTER_MAX_S_DEFAULT = 30.0
CONNECT_BACKOFF_FIRST_S = 0.25
CONNECT_BACKOFF_MAX_S = 2.0
#: The stream's own reconnect delay (SSE ``retry:``) is honoured up to this.
STREAM_RECONNECT_DELAY_MAX_S = 10.0
STREAM_RECONNECTS_MAX_DEFAULT = 5
_NO_BODY = object()


def new_idempotency_key() -> str:
    """A fresh key for one spending call, reused by every retry of that call."""
    return f"pb_{uuid.uuid4().hex}"


def usd(value: Decimal | str, name: str) -> str:
    """A USD amount as the decimal string Paybound reads; floats are refused, never rounded."""
    if isinstance(value, bool) or not isinstance(value, (Decimal, str)):
        raise TypeError(f"{name}: a Decimal or a decimal string such as '2.00' expected, got {type(value).__name__}")
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{name}: {value!r} is not a decimal amount") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{name}: {value!r} is not a non-negative amount")
    return format(amount, "f")


@dataclasses.dataclass(frozen=True)
class Call(Generic[T]):
    """One request to Paybound and how to read its answer."""

    method: str
    path: str
    read: Callable[[httpx.Response, bytes], T]
    body: Any = _NO_BODY
    params: Mapping[str, str] | None = None
    headers: Mapping[str, str] | None = None
    #: Set on spending calls: sent as Idempotency-Key, the same on every attempt.
    idempotency_key: str | None = None
    timeout_s: float | None = None
    answer_bytes_max: int = JSON_ANSWER_BYTES_MAX

    def request(
        self,
        http: httpx.Client | httpx.AsyncClient,
        base_url: str,
        api_key: str,
        timeout_s: float,
        timeout: httpx.Timeout | None = None,
    ) -> httpx.Request:
        headers = {"authorization": f"Bearer {api_key}", "accept": "application/json", "user-agent": USER_AGENT}
        headers.update(self.headers or {})
        if self.idempotency_key is not None:
            headers["idempotency-key"] = self.idempotency_key
        content = None
        if self.body is not _NO_BODY:
            headers["content-type"] = "application/json"
            content = json.dumps(self.body, ensure_ascii=False, separators=(",", ":")).encode()
        limit_s = self.timeout_s if self.timeout_s is not None else timeout_s
        return http.build_request(
            self.method,
            f"{base_url}{self.path}",
            params=self.params,
            headers=headers,
            content=content,
            timeout=timeout if timeout is not None else httpx.Timeout(limit_s),
        )


def path_id(value: str) -> str:
    if not isinstance(value, str) or value == "":
        raise ValueError("an id must be a non-empty string")
    return quote(value, safe="")


def json_call(model: type[T], method: str, path: str, **options: Any) -> Call[T]:
    def read(response: httpx.Response, body: bytes) -> T:
        key = options.get("idempotency_key")
        if not response.is_success:
            raise problem_error(response, body, key)
        try:
            return decode(model, parse_json(response, body, key))
        except PayboundProtocolError:
            raise
        except ValueError as error:
            raise read_error(error, response, key) from None

    return Call(method=method, path=path, read=read, **options)


# The calls, one builder each; the two clients only send them.


def open_session(
    limit: Decimal | str,
    expires_in_minutes: int | None,
    max_payments: int | None,
    metadata: Mapping[str, str] | None,
    idempotency_key: str | None,
) -> Call[Session]:
    body: dict[str, Any] = {"limit": usd(limit, "limit")}
    if expires_in_minutes is not None:
        body["expiresInMinutes"] = expires_in_minutes
    if max_payments is not None:
        body["maxPayments"] = max_payments
    if metadata is not None:
        body["metadata"] = dict(metadata)
    return json_call(
        Session, "POST", "/v1/sessions", body=body, idempotency_key=idempotency_key or new_idempotency_key()
    )


def get_session(session_id: str) -> Call[Session]:
    return json_call(Session, "GET", f"/v1/sessions/{path_id(session_id)}")


def close_session(session_id: str) -> Call[Session]:
    return json_call(Session, "POST", f"/v1/sessions/{path_id(session_id)}/close")


def request_payment(
    session_id: str,
    payment_required: str | Mapping[str, Any],
    url: str,
    method: str | None,
    idempotency_key: str | None,
) -> Call[SignedPayment]:
    offer = payment_required if isinstance(payment_required, str) else dict(payment_required)
    body: dict[str, Any] = {"paymentRequired": offer, "url": url}
    if method is not None:
        body["method"] = method.upper()
    return json_call(
        SignedPayment,
        "POST",
        f"/v1/sessions/{path_id(session_id)}/payments",
        body=body,
        idempotency_key=idempotency_key or new_idempotency_key(),
    )


def report_result(payment_id: str, status: int, payment_response: str | None) -> Call[Payment]:
    body: dict[str, Any] = {"status": status}
    if payment_response is not None:
        body["paymentResponse"] = payment_response
    return json_call(Payment, "POST", f"/v1/payments/{path_id(payment_id)}/result", body=body)


def get_payment(payment_id: str) -> Call[SignedPayment]:
    return json_call(SignedPayment, "GET", f"/v1/payments/{path_id(payment_id)}")


def search_catalog(
    q: str | None, max_price: Decimal | str | None, network: str | None, limit: int | None, offset: int | None
) -> Call[CatalogPage]:
    params: dict[str, str] = {}
    if q is not None:
        params["q"] = q
    if max_price is not None:
        params["maxPrice"] = usd(max_price, "max_price")
    if network is not None:
        params["network"] = network
    if limit is not None:
        params["limit"] = str(limit)
    if offset is not None:
        params["offset"] = str(offset)
    return json_call(CatalogPage, "GET", "/v1/catalog", params=params)


def fetch(
    session_id: str,
    url: str,
    method: str,
    headers: Mapping[str, str] | None,
    body: str | None,
    json_body: Mapping[str, Any] | Sequence[Any] | None,
    max_price: Decimal | str | None,
    idempotency_key: str | None,
    timeout_s: float,
) -> Call[FetchResult]:
    if body is not None and json_body is not None:
        raise ValueError("pass body or json, not both")
    request: dict[str, Any] = {"url": url, "method": method.upper()}
    if headers:
        request["headers"] = dict(headers)
    if body is not None:
        request["body"] = body
    elif json_body is not None:
        request["body"] = json_body if isinstance(json_body, Mapping) else list(json_body)
    if max_price is not None:
        request["maxPrice"] = usd(max_price, "max_price")
    key = idempotency_key or new_idempotency_key()

    def read(response: httpx.Response, content: bytes) -> FetchResult:
        return fetch_result(response, content, key)

    return Call(
        method="POST",
        path=f"/v1/sessions/{path_id(session_id)}/fetch",
        read=read,
        body=request,
        idempotency_key=key,
        timeout_s=timeout_s,
        answer_bytes_max=FETCH_ANSWER_BYTES_MAX,
    )


def fetch_result(response: httpx.Response, content: bytes, idempotency_key: str) -> FetchResult:
    """The seller's answer; Paybound's own problems (and only those) are raised."""
    if own_problem(response, content):
        raise problem_error(response, content, idempotency_key)
    payment_id = response.headers.get("paybound-payment-id")
    awaiting = None
    if (
        response.status_code == 202
        and payment_id is not None
        and response.headers.get("location", "").startswith("/v1/payments/")
    ):
        awaiting = decode(SignedPayment, parse_json(response, content, idempotency_key))
    return FetchResult(
        status=response.status_code,
        headers=response.headers,
        content=content,
        payment_id=payment_id,
        amount=_header_usd(response, "paybound-amount"),
        remaining=_header_usd(response, "paybound-remaining"),
        awaiting_approval=awaiting,
    )


def _header_usd(response: httpx.Response, name: str) -> Decimal | None:
    value = response.headers.get(name)
    if value is None:
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        raise PayboundProtocolError(f"{name}: {value[:40]!r} is not an amount", status=response.status_code) from None


# Answers that are not successes.


def own_problem(response: httpx.Response, content: bytes) -> bool:
    """Whether an answer is a problem of Paybound itself (not a seller's answer passed through)."""
    if response.status_code < 400 or not response.headers.get("content-type", "").startswith(
        "application/problem+json"
    ):
        return False
    try:
        problem = json.loads(content)
    except ValueError:
        return False
    return isinstance(problem, dict) and str(problem.get("type", "")).startswith(PROBLEM_TYPE_PREFIX)


def problem_error(response: httpx.Response, content: bytes, idempotency_key: str | None) -> PayboundError:
    """The exception for a problem answer: the class of its code, else of its status."""
    status = response.status_code
    try:
        problem = json.loads(content)
    except ValueError:
        problem = None
    if not isinstance(problem, dict):
        text = content[:200].decode("utf-8", errors="replace")
        return PayboundProtocolError(
            f"HTTP {status} without a problem body: {text}", status=status, idempotency_key=idempotency_key
        )
    code = problem.get("code")
    detail = problem.get("detail")
    figures = {k: v for k, v in problem.items() if k not in ("type", "title", "status", "code", "detail")}
    cls = ERRORS_BY_CODE.get(code) if isinstance(code, str) else None
    if cls is None:
        cls = _class_for_status(status, figures)
    return cls(
        detail if isinstance(detail, str) else f"HTTP {status}",
        status=status,
        code=code if isinstance(code, str) else None,
        figures=figures,
        idempotency_key=idempotency_key,
    )


def _class_for_status(status: int, figures: Mapping[str, Any]) -> type[PayboundError]:
    # A code this client does not know yet (a newer governor): the kind follows from the status.
    if status == 403:
        return RefusalError if "requested" in figures else AuthError
    by_status: dict[int, type[PayboundError]] = {
        401: AuthError,
        404: NotFoundError,
        409: ConflictError,
        412: ConflictError,
        502: UpstreamError,
        503: UnavailableError,
        504: UpstreamError,
    }
    if status in by_status:
        return by_status[status]
    return InvalidRequestError if status < 500 else ServerError


def parse_json(response: httpx.Response, content: bytes, idempotency_key: str | None) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        raise PayboundProtocolError(
            f"HTTP {response.status_code}: the answer is not JSON",
            status=response.status_code,
            idempotency_key=idempotency_key,
        ) from None


def read_error(model_error: ValueError, response: httpx.Response, idempotency_key: str | None) -> PayboundProtocolError:
    return PayboundProtocolError(
        f"the answer does not have the documented shape: {model_error}",
        status=response.status_code,
        idempotency_key=idempotency_key,
    )


# When to try again.


def connect_retry_delay_s(attempt: int, retries_max: int) -> float | None:
    """The wait before another attempt after attempt ``attempt`` (1-based) could not connect.

    Nothing was sent, so any call may be repeated, a bounded number of times.
    """
    if attempt > retries_max:
        return None
    return float(min(CONNECT_BACKOFF_FIRST_S * 2 ** (attempt - 1), CONNECT_BACKOFF_MAX_S))


def answer_retry_delay_s(
    attempt: int, response: httpx.Response, content: bytes, retries_max: int, retry_after_max_s: float, now: datetime
) -> float | None:
    """The wait before another attempt after an answer, or None to report it.

    Only Paybound's own 503 with a ``Retry-After`` no longer than ``retry_after_max_s`` is
    retried: Paybound says then that it did nothing and when to come back. Any other
    answer is final; a seller's 503 passed through by pay-and-fetch is the seller's answer.
    """
    if attempt > retries_max or response.status_code != 503:
        return None
    value = response.headers.get("retry-after")
    if value is None or not own_problem(response, content):
        return None
    delay = retry_after_s(value, now)
    if delay is None or delay > retry_after_max_s:
        return None
    return delay


def retry_after_s(value: str, now: datetime) -> float | None:
    """Retry-After as seconds to wait: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    text = value.strip()
    if text.isdigit():
        return float(int(text))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - now).total_seconds())


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


# Server-Sent Events (https://html.spec.whatwg.org/multipage/server-sent-events.html).


@dataclasses.dataclass
class SseDecoder:
    """Turns the lines of an event stream into messages; one instance per connection."""

    event: str = ""
    data: list[str] = dataclasses.field(default_factory=list)
    data_bytes: int = 0
    last_id: str | None = None
    retry_ms: int | None = None

    def feed(self, line: str) -> tuple[str | None, str, str] | None:
        """Feeds one line (without its end); answers ``(id, event, data)`` at a blank line."""
        if line == "":
            if not self.data:
                self.event = ""
                return None
            message = (self.last_id, self.event or "message", "\n".join(self.data))
            self.event, self.data, self.data_bytes = "", [], 0
            return message
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self.data_bytes += len(value) + 1
            if self.data_bytes > STREAM_EVENT_BYTES_MAX:
                raise PayboundProtocolError(
                    f"an event of the stream exceeds {STREAM_EVENT_BYTES_MAX} bytes", status=200
                )
            self.data.append(value)
        elif name == "event":
            self.event = value
        elif name == "id" and "\0" not in value:
            self.last_id = value
        elif name == "retry" and value.isdigit():
            self.retry_ms = int(value)
        return None


def stream_call(session_id: str, last_event_id: int | None) -> Call[None]:
    """The stream's request; it resumes after ``last_event_id`` (SSE ``Last-Event-ID``)."""

    def read(response: httpx.Response, body: bytes) -> None:
        raise problem_error(response, body, None)

    return Call(
        method="GET",
        path=f"/v1/sessions/{path_id(session_id)}/stream",
        read=read,
        headers={
            "accept": "text/event-stream",
            **({} if last_event_id is None else {"last-event-id": str(last_event_id)}),
        },
    )


def stream_timeout(timeout_s: float) -> httpx.Timeout:
    return httpx.Timeout(timeout_s, read=STREAM_READ_TIMEOUT_S)


def session_event(message_id: str | None, data: str) -> SessionEvent:
    if message_id is None or not message_id.isdigit():
        raise PayboundProtocolError(f"a stream event without a numeric id ({str(message_id)[:40]!r})", status=200)
    try:
        return decode(SessionEvent, json.loads(data), stream_version=int(message_id))
    except ValueError as error:
        raise PayboundProtocolError(f"a stream event that cannot be read: {error}", status=200) from None


def reconnect_delay_s(decoder: SseDecoder | None) -> float:
    if decoder is None or decoder.retry_ms is None:
        return 1.0
    return min(decoder.retry_ms / 1000, STREAM_RECONNECT_DELAY_MAX_S)
