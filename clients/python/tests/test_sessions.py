"""Sessions against the real governor: open, read, close, idempotency, and the problems."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

import paybound
from conftest import Admin, Agent, Stack
from paybound import Paybound


def test_open_session_answers_the_session_with_decimal_amounts(client: Paybound, agent: Agent) -> None:
    before = datetime.now(timezone.utc)
    session = client.open_session("2.50", expires_in_minutes=30, max_payments=7, metadata={"task": "research"})

    assert session.id.startswith("ses_")
    assert session.agent_id == agent.agent_id
    assert (session.limit, session.reserved, session.spent, session.remaining) == (
        Decimal("2.50"),
        Decimal("0"),
        Decimal("0"),
        Decimal("2.50"),
    )
    assert session.status == "open"
    assert session.max_payments == 7
    assert dict(session.metadata) == {"task": "research"}
    assert timedelta(minutes=29) < session.expires_at - before < timedelta(minutes=31)
    assert client.get_session(session.id) == session


def test_a_repeated_open_with_the_same_key_answers_the_first_session(client: Paybound) -> None:
    first = client.open_session(Decimal("1.00"), idempotency_key="open-once")
    again = client.open_session(Decimal("1.00"), idempotency_key="open-once")
    other = client.open_session(Decimal("1.00"))

    assert again.id == first.id
    assert other.id != first.id
    with pytest.raises(paybound.IdempotencyKeyReused) as reused:
        client.open_session(Decimal("2.00"), idempotency_key="open-once")
    assert reused.value.status == 422
    assert reused.value.idempotency_key == "open-once"


def test_problems_raise_the_class_of_their_code(stack: Stack, client: Paybound) -> None:
    with pytest.raises(paybound.SessionNotFound) as missing:
        client.get_session("ses_does_not_exist")
    assert (missing.value.status, missing.value.code) == (404, "session_not_found")
    assert isinstance(missing.value, paybound.NotFoundError)

    with pytest.raises(paybound.InvalidRequest) as invalid:
        client.open_session("0")
    assert invalid.value.field == "limit"
    assert isinstance(invalid.value, paybound.InvalidRequestError)

    with Paybound(stack.governor_url, "pb_agent_unknown") as stranger, pytest.raises(paybound.InvalidApiKey) as unknown:
        stranger.get_session("ses_x")
    assert isinstance(unknown.value, paybound.AuthError)


def test_amounts_are_never_floats(client: Paybound) -> None:
    with pytest.raises(TypeError, match="Decimal or a decimal string"):
        client.open_session(0.1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a decimal amount"):
        client.open_session("ten dollars")


def test_an_agent_of_another_org_does_not_see_the_session(stack: Stack, admin: Admin, client: Paybound) -> None:
    # Every test org names its agent "agent": agent ids are unique within an org, not across orgs.
    session = client.open_session("1.00")
    other = admin.new_agent()
    with Paybound(stack.governor_url, other.api_key) as stranger, pytest.raises(paybound.SessionNotFound):
        stranger.get_session(session.id)


def test_close_session_stops_new_payments(stack: Stack, client: Paybound) -> None:
    """Needs POST /v1/sessions/{id}/close, which another branch is adding to the governor."""
    session = client.open_session("1.00")
    closed = client.close_session(session.id)

    assert closed.id == session.id
    assert closed.status == "closed"
    assert client.get_session(session.id).status == "closed"
    with pytest.raises(paybound.SessionClosed) as refused:
        client.fetch(session.id, stack.seller_data_url)
    assert refused.value.status == 403
    assert refused.value.requested == stack.price
