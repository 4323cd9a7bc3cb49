"""Retries only where safe, with one Idempotency-Key per call: faults on a real socket, a real governor."""

from __future__ import annotations

import time

import httpx
import pytest

import paybound
from conftest import Agent, Stack, wait_until
from fault_proxy import FaultProxy, free_port
from paybound import Paybound


@pytest.fixture
def proxy(stack: Stack) -> FaultProxy:
    return FaultProxy(stack.governor_url)


def test_a_refused_connection_is_retried_and_the_call_goes_through_once(stack: Stack, agent: Agent) -> None:
    proxy = FaultProxy(stack.governor_url, port=free_port())
    proxy.start_after(0.4)
    try:
        with Paybound(proxy.url, agent.api_key, retries_max=4) as client:
            started = time.monotonic()
            session = client.open_session("1.00")
            elapsed_s = time.monotonic() - started
    finally:
        proxy.close()
    # Nothing was sent while the port was closed: the governor saw exactly one request.
    assert elapsed_s >= 0.25
    assert len(proxy.requests_to("/v1/sessions")) == 1
    with Paybound(stack.governor_url, agent.api_key) as client:
        assert client.get_session(session.id).limit == 1


def test_a_connection_never_made_raises_after_the_allowed_retries(agent: Agent) -> None:
    with Paybound(f"http://127.0.0.1:{free_port()}", agent.api_key, retries_max=2) as client:
        started = time.monotonic()
        with pytest.raises(paybound.PayboundConnectionError) as failed:
            client.open_session("1.00", idempotency_key="never-sent")
    # Two waits (0.25 s, 0.5 s) between three attempts.
    assert time.monotonic() - started >= 0.75
    assert (failed.value.status, failed.value.code) == (0, "unreachable")
    assert failed.value.idempotency_key == "never-sent"
    assert "3 attempts" in failed.value.detail


def test_a_503_with_retry_after_is_retried_with_the_same_key_and_pays_once(
    stack: Stack, agent: Agent, proxy: FaultProxy
) -> None:
    proxy.start()
    payee_before = stack.token_balance(stack.payee_address)
    try:
        with Paybound(proxy.url, agent.api_key) as client:
            session = client.open_session("1.00")
            proxy.plans.append("reply_503_retry_after")
            started = time.monotonic()
            result = client.fetch(session.id, stack.seller_data_url)
            elapsed_s = time.monotonic() - started
    finally:
        proxy.close()

    attempts = proxy.requests_to(f"/v1/sessions/{session.id}/fetch")
    assert len(attempts) == 2
    keys = {attempt.headers["idempotency-key"] for attempt in attempts}
    assert len(keys) == 1
    assert elapsed_s >= 1.0
    assert result.status == 200
    with Paybound(stack.governor_url, agent.api_key) as client:
        wait_until(lambda: client.get_payment(result.payment_id or "").status == "settled", "the payment settles")
        assert client.get_session(session.id).payments == 1
    assert stack.token_balance(stack.payee_address) - payee_before == stack.price_atomic


def test_a_503_without_retry_after_is_not_retried(stack: Stack, agent: Agent, proxy: FaultProxy) -> None:
    proxy.start()
    proxy.plans.append("reply_503")
    try:
        with Paybound(proxy.url, agent.api_key) as client, pytest.raises(paybound.NotReady) as unavailable:
            client.open_session("1.00")
    finally:
        proxy.close()
    assert isinstance(unavailable.value, paybound.UnavailableError)
    assert len(proxy.requests_to("/v1/sessions")) == 1


def test_no_answer_is_not_retried_and_the_same_key_then_answers_the_first_outcome(
    stack: Stack, agent: Agent, proxy: FaultProxy
) -> None:
    proxy.start()
    offer = httpx.get(stack.seller_data_url, timeout=10).headers["payment-required"]
    with Paybound(stack.governor_url, agent.api_key) as direct:
        session = direct.open_session("1.00")
        proxy.plans.append("hold")
        try:
            with (
                Paybound(proxy.url, agent.api_key, timeout_s=2) as client,
                pytest.raises(paybound.PayboundNoAnswerError) as lost,
            ):
                client.request_payment(session.id, offer, stack.seller_data_url)
        finally:
            proxy.close()
        assert len(proxy.requests_to(f"/v1/sessions/{session.id}/payments")) == 1
        key = lost.value.idempotency_key
        assert key is not None

        # The held request did reach the governor; calling again with its key finds that payment.
        again = direct.request_payment(session.id, offer, stack.seller_data_url, idempotency_key=key)
        assert direct.get_session(session.id).payments == 1
        assert again.status in ("reserved", "signed")


def test_a_sellers_503_with_retry_after_is_its_answer_and_not_retried(stack: Stack, client: Paybound) -> None:
    seller = FaultProxy(stack.seller_url).start()
    seller.plans.append("reply_sellers_503_retry_after")
    try:
        session = client.open_session("1.00")
        result = client.fetch(session.id, f"{seller.url}/data")
    finally:
        seller.close()
    assert (result.status, result.headers["retry-after"], result.paid) == (503, "1", False)
    assert len(seller.requests_to("/data")) == 1
