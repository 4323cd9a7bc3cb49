"""Sign-only: the runtime calls the seller itself, Paybound decides and signs."""

from __future__ import annotations

from decimal import Decimal

import httpx

from conftest import Stack, wait_until
from paybound import Paybound


def test_sign_only_gives_the_headers_to_send_and_settles_on_the_reported_result(stack: Stack, client: Paybound) -> None:
    session = client.open_session("0.05")
    payee_before = stack.token_balance(stack.payee_address)
    unpaid = httpx.get(stack.seller_data_url, timeout=10)
    assert unpaid.status_code == 402

    payment = client.request_payment(session.id, unpaid.headers["payment-required"], stack.seller_data_url)

    assert payment.status == "signed"
    assert payment.header is not None
    assert payment.header.name.upper() in ("PAYMENT-SIGNATURE", "X-PAYMENT")
    assert (payment.amount, payment.amount_atomic) == (stack.price, stack.price_atomic)
    paid = httpx.get(stack.seller_data_url, headers=payment.headers_to_send, timeout=30)
    assert paid.status_code == 200
    assert paid.json()["data"] == "paid content"

    reported = client.report_result(payment.id, paid.status_code, payment_response=paid.headers.get("payment-response"))
    assert reported.id == payment.id
    settled = wait_until(lambda: (p := client.get_payment(payment.id)).status == "settled" and p, "the payment settles")
    assert settled.header is None
    assert stack.token_balance(stack.payee_address) - payee_before == stack.price_atomic
    assert client.get_session(session.id).spent == stack.price


def test_a_repeated_sign_only_request_with_the_same_key_holds_once(stack: Stack, client: Paybound) -> None:
    session = client.open_session("0.05")
    offer = httpx.get(stack.seller_data_url, timeout=10).headers["payment-required"]

    first = client.request_payment(session.id, offer, stack.seller_data_url, idempotency_key="sign-once")
    again = client.request_payment(session.id, offer, stack.seller_data_url, idempotency_key="sign-once")
    other = client.request_payment(session.id, offer, stack.seller_data_url)

    assert again.id == first.id
    assert again.header == first.header
    assert other.id != first.id
    held = client.get_session(session.id)
    assert (held.payments, held.reserved) == (2, 2 * stack.price)
    assert held.remaining == Decimal("0.05") - 2 * stack.price
