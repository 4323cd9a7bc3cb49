"""The asyncio client against the real stack: the same calls, awaited."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal

import pytest

import paybound
from conftest import Agent, Stack
from paybound import AsyncPaybound, SessionEvent


def test_the_async_client_pays_refuses_and_streams(stack: Stack, agent: Agent) -> None:
    async def scenario() -> tuple[paybound.FetchResult, paybound.SessionLimitExceeded, list[SessionEvent]]:
        async with AsyncPaybound(stack.governor_url, agent.api_key) as client:
            session = await client.open_session("0.015")
            paid = await client.fetch(session.id, stack.seller_data_url)
            with pytest.raises(paybound.SessionLimitExceeded) as refused:
                await client.fetch(session.id, stack.seller_data_url)
            events: list[SessionEvent] = []
            async with contextlib.aclosing(client.stream_events(session.id)) as stream:
                async for event in stream:
                    events.append(event)
                    if event.type == "LimitExceeded":
                        break
            return paid, refused.value, events

    paid, refused, events = asyncio.run(asyncio.wait_for(scenario(), 90))

    assert paid.status == 200
    assert paid.json()["data"] == "paid content"
    assert paid.amount == stack.price
    assert (refused.limit, refused.requested, refused.remaining) == (Decimal("0.015"), stack.price, Decimal("0.005"))
    types = [event.type for event in events]
    assert types[0] == "SessionOpened"
    assert types.index("Reserved") < types.index("PaymentSigned") < types.index("LimitExceeded")
    assert events[-1].payment_id == refused.payment_id


def test_the_async_client_reuses_its_key_and_answers_the_first_session(stack: Stack, agent: Agent) -> None:
    async def scenario() -> tuple[str, str, str]:
        async with AsyncPaybound(stack.governor_url, agent.api_key) as client:
            first, again = await asyncio.gather(
                client.open_session("1.00", idempotency_key="async-open"),
                client.open_session("1.00", idempotency_key="async-open"),
            )
            return first.id, again.id, (await client.get_session(first.id)).id

    first, again, read = asyncio.run(scenario())
    assert first == again == read
