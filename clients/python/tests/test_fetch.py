"""Pay-and-fetch against the real governor, worker, chain and official x402 seller."""

from __future__ import annotations

from decimal import Decimal

import pytest

import paybound
from conftest import Admin, Stack, wait_until
from paybound import Paybound


def test_a_paid_fetch_returns_the_sellers_body_and_moves_exactly_the_price(stack: Stack, client: Paybound) -> None:
    session = client.open_session("0.05")
    payer_before = stack.token_balance(stack.payer_address)
    payee_before = stack.token_balance(stack.payee_address)

    result = client.fetch(session.id, stack.seller_data_url)

    assert result.status == 200
    assert result.json()["data"] == "paid content"
    assert result.paid
    assert result.payment_id is not None
    assert result.amount == stack.price
    assert result.remaining == Decimal("0.05") - stack.price
    settled = wait_until(
        lambda: (p := client.get_payment(result.payment_id or "")).status == "settled" and p, "the payment settles"
    )
    assert settled.amount == stack.price
    assert settled.amount_atomic == stack.price_atomic
    assert settled.pay_to is not None
    assert settled.pay_to.lower() == stack.payee_address.lower()
    assert settled.transaction is not None
    assert settled.transaction.startswith("0x")
    assert stack.token_balance(stack.payee_address) - payee_before == stack.price_atomic
    assert payer_before - stack.token_balance(stack.payer_address) == stack.price_atomic
    assert client.get_session(session.id).spent == stack.price


def test_a_refusal_raises_the_exception_of_its_code_with_its_figures(stack: Stack, client: Paybound) -> None:
    session = client.open_session("0.015")
    payer_before = stack.token_balance(stack.payer_address)
    client.fetch(session.id, stack.seller_data_url)

    with pytest.raises(paybound.SessionLimitExceeded) as refused:
        client.fetch(session.id, stack.seller_data_url)

    error = refused.value
    assert isinstance(error, paybound.RefusalError)
    assert (error.status, error.code, error.level) == (403, "session_limit_exceeded", "session")
    assert (error.limit, error.requested, error.remaining) == (Decimal("0.015"), stack.price, Decimal("0.005"))
    assert error.payment_id is not None
    assert client.get_payment(error.payment_id).status == "rejected"
    wait_until(
        lambda: payer_before - stack.token_balance(stack.payer_address) == stack.price_atomic, "one payment lands"
    )
    assert payer_before - stack.token_balance(stack.payer_address) == stack.price_atomic


def test_an_agent_budget_refuses_with_the_agents_figures(stack: Stack, admin: Admin) -> None:
    agent = admin.new_agent(agent_limit="0.01")
    with Paybound(stack.governor_url, agent.api_key) as client:
        session = client.open_session("1.00")
        client.fetch(session.id, stack.seller_data_url)
        with pytest.raises(paybound.AgentLimitExceeded) as refused:
            client.fetch(session.id, stack.seller_data_url)
    assert refused.value.level == "agent"
    assert (refused.value.limit, refused.value.requested, refused.value.remaining) == (
        Decimal("0.01"),
        stack.price,
        Decimal("0"),
    )


def test_a_policy_refusal_raises_its_own_class(stack: Stack, admin: Admin) -> None:
    agent = admin.new_agent()
    admin.set_agent_policy(agent, {"deniedPayees": [stack.payee_address]})
    with Paybound(stack.governor_url, agent.api_key) as client:
        session = client.open_session("1.00")
        with pytest.raises(paybound.PayeeNotAllowed) as refused:
            client.fetch(session.id, stack.seller_data_url)
        assert refused.value.level == "policy"
        assert refused.value.requested == stack.price
        assert client.get_session(session.id).reserved == 0


def test_max_price_below_the_offer_refuses_before_anything_is_held(stack: Stack, client: Paybound) -> None:
    session = client.open_session("1.00")
    with pytest.raises(paybound.PriceAboveMax) as refused:
        client.fetch(session.id, stack.seller_data_url, max_price=Decimal("0.005"))
    assert (refused.value.limit, refused.value.requested) == (Decimal("0.005"), stack.price)
    assert client.get_session(session.id).reserved == 0
    assert client.fetch(session.id, stack.seller_data_url, max_price="0.01").paid


def test_a_repeat_with_the_same_key_pays_once(stack: Stack, client: Paybound) -> None:
    session = client.open_session("1.00")
    payee_before = stack.token_balance(stack.payee_address)

    first = client.fetch(session.id, stack.seller_data_url, idempotency_key="fetch-once")
    with pytest.raises(paybound.PaymentAlreadyUsed) as repeated:
        client.fetch(session.id, stack.seller_data_url, idempotency_key="fetch-once")

    assert first.paid
    assert repeated.value.payment_id == first.payment_id
    assert repeated.value.idempotency_key == "fetch-once"
    wait_until(lambda: client.get_payment(first.payment_id or "").status == "settled", "the payment settles")
    assert stack.token_balance(stack.payee_address) - payee_before == stack.price_atomic
    balance = client.get_session(session.id)
    assert (balance.payments, balance.spent, balance.reserved) == (1, stack.price, Decimal("0"))


def test_a_free_answer_passes_through_unpaid(stack: Stack, client: Paybound) -> None:
    session = client.open_session("1.00")
    result = client.fetch(session.id, f"{stack.seller_url}/health")
    assert (result.status, result.json(), result.paid, result.payment_id, result.amount) == (
        200,
        {"ok": True},
        False,
        None,
        None,
    )


def test_the_sellers_own_error_is_an_answer_not_an_exception(stack: Stack, client: Paybound) -> None:
    session = client.open_session("1.00")
    result = client.fetch(session.id, f"{stack.seller_url}/no-such-page")
    assert result.status == 404
    assert not result.paid
    assert client.get_session(session.id).payments == 0


def test_the_catalog_lists_the_seller_from_x402_discovery(stack: Stack, client: Paybound) -> None:
    page = wait_until(
        lambda: (p := client.search_catalog(network=stack.network, max_price="0.05")).items and p, "the catalog syncs"
    )
    item = next(item for item in page.items if item.resource == stack.seller_data_url)
    assert (item.price, item.price_atomic, item.network, item.scheme) == (
        stack.price,
        stack.price_atomic,
        stack.network,
        "exact",
    )
    assert item.pay_to.lower() == stack.payee_address.lower()
    assert client.search_catalog(network=stack.network, max_price="0.001").items == ()
