"""The client's pure rules: amounts, the retry decision, problems, the SSE decoder."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import httpx
import pytest

import paybound
from paybound import _core

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def answer(
    status: int, body: object = b"", content_type: str = "application/problem+json", **headers: str
) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.Response(status, content=content, headers={"content-type": content_type, **headers})


def problem(code: str, status: int, **figures: object) -> dict[str, object]:
    return {
        "type": f"https://paybound.dev/problems/{code}",
        "title": code,
        "status": status,
        "code": code,
        "detail": "d",
        **figures,
    }


@pytest.mark.parametrize(
    ("value", "text"),
    [("2.00", "2.00"), (Decimal("0.005"), "0.005"), ("1E+2", "100"), (Decimal("0"), "0")],
)
def test_usd_keeps_the_exact_decimal(value: Decimal | str, text: str) -> None:
    assert _core.usd(value, "limit") == text


@pytest.mark.parametrize("value", [0.1, 1, True, None])
def test_usd_refuses_what_is_not_a_decimal(value: object) -> None:
    with pytest.raises(TypeError):
        _core.usd(value, "limit")  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["-1", "NaN", "Infinity", "ten", ""])
def test_usd_refuses_what_is_not_an_amount(value: str) -> None:
    with pytest.raises(ValueError, match="limit"):
        _core.usd(value, "limit")


def test_a_refused_connection_is_retried_with_a_growing_bounded_wait() -> None:
    delays = [_core.connect_retry_delay_s(attempt, retries_max=6) for attempt in range(1, 8)]
    assert delays == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0, None]


@pytest.mark.parametrize(
    ("response", "delay"),
    [
        (answer(503, problem("not_ready", 503), **{"retry-after": "2"}), 2.0),
        (answer(503, problem("not_ready", 503), **{"retry-after": "Fri, 02 Jan 2026 03:04:08 GMT"}), 3.0),
        (answer(503, problem("not_ready", 503), **{"retry-after": "Fri, 02 Jan 2026 03:00:00 GMT"}), 0.0),
        (answer(503, problem("not_ready", 503)), None),
        (answer(503, problem("not_ready", 503), **{"retry-after": "31"}), None),
        (answer(503, problem("not_ready", 503), **{"retry-after": "soon"}), None),
        (answer(503, {"error": "busy"}, "application/json", **{"retry-after": "1"}), None),
        (answer(502, problem("upstream_unreachable", 502), **{"retry-after": "1"}), None),
        (answer(500, problem("internal_error", 500), **{"retry-after": "1"}), None),
    ],
    ids=["seconds", "date", "past-date", "no-header", "too-long", "unreadable", "not-paybounds", "502", "500"],
)
def test_only_paybounds_503_with_a_usable_retry_after_is_retried(response: httpx.Response, delay: float | None) -> None:
    assert _core.answer_retry_delay_s(1, response, response.content, 2, 30.0, NOW) == delay


def test_a_503_is_retried_only_as_often_as_allowed() -> None:
    response = answer(503, problem("not_ready", 503), **{"retry-after": "1"})
    assert _core.answer_retry_delay_s(2, response, response.content, 2, 30.0, NOW) == 1.0
    assert _core.answer_retry_delay_s(3, response, response.content, 2, 30.0, NOW) is None


def test_a_known_code_raises_its_class_with_every_figure() -> None:
    body = problem(
        "price_above_max", 403, level="request", limit="0.005", requested="0.01", remaining=None, paymentId="pay_1"
    )
    response = answer(403, body)
    error = _core.problem_error(response, response.content, "key-1")
    assert type(error) is paybound.PriceAboveMax
    assert isinstance(error, paybound.RefusalError)
    assert (error.limit, error.requested, error.remaining, error.level) == (
        Decimal("0.005"),
        Decimal("0.01"),
        None,
        "request",
    )
    assert (error.payment_id, error.idempotency_key, error.status) == ("pay_1", "key-1", 403)
    assert str(error) == "price_above_max: d"


@pytest.mark.parametrize(
    ("status", "figures", "kind"),
    [
        (403, {"requested": "0.01"}, paybound.RefusalError),
        (403, {}, paybound.AuthError),
        (404, {}, paybound.NotFoundError),
        (409, {}, paybound.ConflictError),
        (422, {}, paybound.InvalidRequestError),
        (502, {}, paybound.UpstreamError),
        (503, {}, paybound.UnavailableError),
        (500, {}, paybound.ServerError),
    ],
)
def test_a_code_unknown_to_this_client_raises_the_kind_of_its_status(
    status: int, figures: dict[str, str], kind: type[paybound.PayboundError]
) -> None:
    response = answer(status, problem("brand_new_code", status, **figures))
    error = _core.problem_error(response, response.content, None)
    assert type(error) is kind
    assert error.code == "brand_new_code"


def test_an_answer_that_is_not_a_problem_is_a_protocol_error() -> None:
    response = answer(500, b"<html>oops</html>", "text/html")
    error = _core.problem_error(response, response.content, None)
    assert isinstance(error, paybound.PayboundProtocolError)
    assert "oops" in error.detail


def test_only_paybounds_own_problems_count_as_its_problems() -> None:
    own = answer(403, problem("session_limit_exceeded", 403))
    sellers = answer(403, {"type": "https://seller.example/problems/no", "code": "no"})
    assert _core.own_problem(own, own.content)
    assert not _core.own_problem(sellers, sellers.content)
    assert not _core.own_problem(answer(200, problem("x", 200)), b"{}")


def test_the_sse_decoder_follows_the_event_stream_format() -> None:
    decoder = _core.SseDecoder()
    lines = [
        "retry: 1000",
        "",
        ": keep-alive",
        "",
        "id: 7",
        "event: Reserved",
        'data: {"a":',
        "data: 1}",
        "",
        "data: x",
        "",
    ]
    messages = [m for m in (decoder.feed(line) for line in lines) if m is not None]
    assert messages == [("7", "Reserved", '{"a":\n1}'), ("7", "message", "x")]
    assert decoder.retry_ms == 1000
    assert _core.reconnect_delay_s(decoder) == 1.0


def test_the_sse_decoder_bounds_an_event() -> None:
    decoder = _core.SseDecoder()
    for _ in range(63):
        decoder.feed("data: " + "x" * 4096)
    with pytest.raises(paybound.PayboundProtocolError):
        decoder.feed("data: " + "x" * 4096)


def test_a_stream_event_needs_a_numeric_id() -> None:
    with pytest.raises(paybound.PayboundProtocolError):
        _core.session_event("abc", "{}")


def test_times_keep_their_zone_on_python_3_10() -> None:
    from paybound.models import _datetime

    assert _datetime("2026-01-02T03:04:05.123Z") == NOW + timedelta(milliseconds=123)
    with pytest.raises(ValueError, match="offset"):
        _datetime("2026-01-02T03:04:05")
