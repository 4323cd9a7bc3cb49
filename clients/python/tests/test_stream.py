"""The session's event stream (SSE), live from the governor, with reconnection."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from decimal import Decimal

from conftest import Agent, Stack
from fault_proxy import FaultProxy
from paybound import Paybound, SessionEvent

PAYMENT_EVENTS = ("Reserved", "PaymentSigned", "Settled")


def collect_until_settled(events: list[SessionEvent], stream: Iterator[SessionEvent]) -> None:
    for event in stream:
        events.append(event)
        if event.type == "Settled":
            return


def test_the_stream_yields_reserved_payment_signed_and_settled_for_a_payment(stack: Stack, client: Paybound) -> None:
    session = client.open_session("0.05")
    events: list[SessionEvent] = []
    watcher = threading.Thread(
        target=collect_until_settled, args=(events, client.stream_events(session.id)), daemon=True
    )
    watcher.start()

    result = client.fetch(session.id, stack.seller_data_url)
    watcher.join(60)

    assert not watcher.is_alive(), f"no Settled within 60 s; saw {[e.type for e in events]}"
    assert events[0].type == "SessionOpened"
    payment_events = [e for e in events if e.payment_id == result.payment_id]
    assert [e.type for e in payment_events if e.type in PAYMENT_EVENTS] == list(PAYMENT_EVENTS)
    versions = [e.stream_version for e in events]
    assert versions == sorted(set(versions))
    reserved = next(e for e in payment_events if e.type == "Reserved")
    assert reserved.balance is not None
    assert (reserved.balance.reserved, reserved.balance.remaining) == (stack.price, Decimal("0.05") - stack.price)
    settled = payment_events[-1]
    assert settled.balance is not None
    assert (settled.balance.spent, settled.balance.reserved, settled.balance.payments) == (stack.price, Decimal("0"), 1)
    assert settled.data["amountAtomic"] == str(stack.price_atomic)
    assert settled.data["transaction"].startswith("0x")


def test_a_dropped_stream_resumes_after_the_last_event_without_loss_or_repeat(
    stack: Stack, agent: Agent, client: Paybound
) -> None:
    session = client.open_session("0.05")
    result = client.fetch(session.id, stack.seller_data_url)
    expected = []
    for event in client.stream_events(session.id):
        expected.append(event.stream_version)
        if event.type == "Settled":
            break

    proxy = FaultProxy(stack.governor_url).start()
    proxy.plans.extend(["cut_after_first_event", "cut_after_first_event"])
    try:
        with Paybound(proxy.url, agent.api_key) as through_proxy:
            seen = []
            for event in through_proxy.stream_events(session.id):
                seen.append(event)
                if event.type == "Settled" and event.payment_id == result.payment_id:
                    break
    finally:
        proxy.close()

    assert [e.stream_version for e in seen] == expected
    streams = proxy.requests_to(f"/v1/sessions/{session.id}/stream")
    assert len(streams) >= 3
    assert "last-event-id" not in streams[0].headers
    assert streams[1].headers["last-event-id"] == str(seen[0].stream_version)


def test_the_stream_starts_after_a_given_event(stack: Stack, client: Paybound) -> None:
    session = client.open_session("0.05")
    client.fetch(session.id, stack.seller_data_url)
    all_events = []
    for event in client.stream_events(session.id):
        all_events.append(event)
        if event.type == "Settled":
            break
    opened = all_events[0]

    rest = []
    for event in client.stream_events(session.id, after=opened.stream_version):
        rest.append(event)
        if event.type == "Settled":
            break

    assert [e.id for e in rest] == [e.id for e in all_events[1:]]
