"""Each framework's tools, invoked through that framework's own tool-calling interface.

No model is needed: each test makes the call a framework makes when a model asks for a
tool (LangChain's tool-call invoke, the Agents SDK's ``on_invoke_tool``, Strands' tool
stream, CrewAI's tool run), against the real stack. Each shows a payment that moves the
chain by the price, and a refusal that comes back as text a model can read.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from conftest import Agent, Stack, wait_until
from paybound import AsyncPaybound, Paybound

#: Invokes one tool by name with the model's arguments, the way the framework does; answers the tool's text.
Invoke = Callable[[str, dict[str, Any]], str]


def langchain_invoker(client: Paybound, session_id: str) -> Invoke:
    from langchain_core.messages import ToolMessage

    from paybound.tools.langchain import paybound_tools

    tools = {tool.name: tool for tool in paybound_tools(client, session_id)}

    def invoke(name: str, arguments: dict[str, Any]) -> str:
        message = tools[name].invoke({"type": "tool_call", "id": f"call-{name}", "name": name, "args": arguments})
        assert isinstance(message, ToolMessage)
        assert message.tool_call_id == f"call-{name}"
        assert isinstance(message.content, str)
        return message.content

    return invoke


def openai_agents_invoker(client: Paybound, session_id: str) -> Invoke:
    from agents.tool_context import ToolContext

    from paybound.tools.openai_agents import paybound_tools

    tools = {tool.name: tool for tool in paybound_tools(client, session_id)}

    def invoke(name: str, arguments: dict[str, Any]) -> str:
        raw = json.dumps(arguments)
        context = ToolContext(context=None, tool_name=name, tool_call_id=f"call-{name}", tool_arguments=raw)

        async def call() -> Any:
            return await tools[name].on_invoke_tool(context, raw)

        result = asyncio.run(call())
        assert isinstance(result, str)
        return result

    return invoke


def strands_invoker(client: Paybound, session_id: str) -> Invoke:
    from paybound.tools.strands import paybound_tools

    tools = {tool.tool_name: tool for tool in paybound_tools(client, session_id)}

    def invoke(name: str, arguments: dict[str, Any]) -> str:
        async def run() -> list[Any]:
            use = {"toolUseId": f"call-{name}", "name": name, "input": arguments}
            return [event async for event in tools[name].stream(use, {})]  # type: ignore[arg-type]

        events = asyncio.run(run())
        result = events[-1]["tool_result"]
        assert result["toolUseId"] == f"call-{name}"
        assert result["status"] == "success", result
        text: str = result["content"][0]["text"]
        return text

    return invoke


def crewai_invoker(client: Paybound, session_id: str) -> Invoke:
    from paybound.tools.crewai import paybound_tools

    tools = {tool.name: tool for tool in paybound_tools(client, session_id)}

    def invoke(name: str, arguments: dict[str, Any]) -> str:
        # What CrewAI's agent executor calls with the model's parsed arguments.
        result = tools[name].to_structured_tool().invoke(arguments)
        assert isinstance(result, str)
        return result

    return invoke


FRAMEWORKS: dict[str, Callable[[Paybound, str], Invoke]] = {
    "langchain": langchain_invoker,
    "openai-agents": openai_agents_invoker,
    "strands": strands_invoker,
    "crewai": crewai_invoker,
}


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_the_tools_pay_and_tell_a_refusal(stack: Stack, client: Paybound, framework: str) -> None:
    session = client.open_session("0.015")
    invoke = FRAMEWORKS[framework](client, session.id)
    payee_before = stack.token_balance(stack.payee_address)

    paid = json.loads(invoke("paid_fetch", {"url": stack.seller_data_url}))
    assert paid["status"] == 200
    assert json.loads(paid["body"])["data"] == "paid content"
    assert (paid["paid"], paid["remaining"]) == ("0.01", "0.005")
    wait_until(lambda: client.get_payment(paid["paymentId"]).status == "settled", "the payment settles")
    assert stack.token_balance(stack.payee_address) - payee_before == stack.price_atomic

    refused = json.loads(invoke("paid_fetch", {"url": stack.seller_data_url}))
    assert refused["refused"] == "session_limit_exceeded"
    assert (refused["level"], refused["limit"], refused["requested"], refused["remaining"]) == (
        "session",
        "0.015",
        "0.01",
        "0.005",
    )
    assert "session" in refused["detail"]

    too_dear = json.loads(invoke("paid_fetch", {"url": stack.seller_data_url, "max_price": "0.001"}))
    assert (too_dear["refused"], too_dear["limit"], too_dear["requested"]) == ("price_above_max", "0.001", "0.01")

    balance = json.loads(invoke("session_balance", {}))
    assert (balance["limit"], balance["spent"], balance["remaining"], balance["payments"]) == (
        "0.015",
        "0.01",
        "0.005",
        1,
    )

    catalog = json.loads(invoke("search_catalog", {"max_price": "0.05"}))
    assert any(item["url"] == stack.seller_data_url and item["price"] == "0.01" for item in catalog["items"])


@pytest.mark.parametrize("framework", ["langchain", "openai-agents", "strands"])
def test_the_tools_take_the_async_client_too(stack: Stack, agent: Agent, framework: str) -> None:
    async def scenario() -> dict[str, Any]:
        async with AsyncPaybound(stack.governor_url, agent.api_key) as client:
            session = await client.open_session("0.05")
            if framework == "langchain":
                from paybound.tools.langchain import paybound_tools as lc_tools

                tool = next(t for t in lc_tools(client, session.id) if t.name == "paid_fetch")
                message = await tool.ainvoke(
                    {"type": "tool_call", "id": "c1", "name": "paid_fetch", "args": {"url": stack.seller_data_url}}
                )
                return dict(json.loads(message.content))
            if framework == "openai-agents":
                from agents.tool_context import ToolContext

                from paybound.tools.openai_agents import paybound_tools as oa_tools

                fn = next(t for t in oa_tools(client, session.id) if t.name == "paid_fetch")
                raw = json.dumps({"url": stack.seller_data_url})
                return dict(
                    json.loads(
                        await fn.on_invoke_tool(
                            ToolContext(None, tool_name="paid_fetch", tool_call_id="c1", tool_arguments=raw), raw
                        )
                    )
                )
            from paybound.tools.strands import paybound_tools as st_tools

            decorated = next(t for t in st_tools(client, session.id) if t.tool_name == "paid_fetch")
            use = {"toolUseId": "c1", "name": "paid_fetch", "input": {"url": stack.seller_data_url}}
            events = [event async for event in decorated.stream(use, {})]  # type: ignore[arg-type]
            return dict(json.loads(events[-1]["tool_result"]["content"][0]["text"]))

    paid = asyncio.run(asyncio.wait_for(scenario(), 90))
    assert paid["status"] == 200
    assert paid["paid"] == "0.01"
    assert Decimal(paid["remaining"]) == Decimal("0.04")


def test_a_model_mistake_is_told_not_raised(client: Paybound) -> None:
    session = client.open_session("0.05")
    invoke = langchain_invoker(client, session.id)
    answer = invoke("paid_fetch", {"url": "http://127.0.0.1/x", "max_price": "five dollars"})
    assert "max_price" in answer
    unknown = json.loads(openai_agents_invoker(client, session.id)("paid_fetch", {"url": "not a url at all"}))
    assert unknown["error"] == "invalid_request"
    assert unknown["field"] == "url"
