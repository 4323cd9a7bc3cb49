"""OpenAI Agents SDK function tools: ``pip install "paybound[openai-agents]"``.

    from agents import Agent
    from paybound.tools.openai_agents import paybound_tools

    agent = Agent(name="researcher", tools=paybound_tools(paybound, session.id))

Works with a ``Paybound`` (the SDK runs the call in a thread) or an ``AsyncPaybound``.
Each tool returns JSON text; a refusal is an answer, not an error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from agents import FunctionTool
from agents.tool_context import ToolContext
from pydantic import BaseModel, ValidationError

from ..aio import AsyncPaybound
from ..client import Paybound
from . import (
    PAID_FETCH_DESCRIPTION,
    SEARCH_CATALOG_DESCRIPTION,
    SESSION_BALANCE_DESCRIPTION,
    text,
    toolkit,
)
from ._args import PaidFetchArgs, SearchCatalogArgs, SessionBalanceArgs


def _function_tool(name: str, description: str, args: type[BaseModel], run: Callable[..., Any]) -> FunctionTool:
    async def on_invoke(context: ToolContext[Any], arguments: str) -> str:
        # The model's arguments are validated by the same schema that was shown to it; a
        # mistake is told to the model, which can correct it.
        try:
            parsed = args.model_validate_json(arguments or "{}").model_dump()
        except ValidationError as error:
            return text({"error": "invalid_arguments", "detail": str(error)})
        if asyncio.iscoroutinefunction(run):
            result: str = await run(**parsed)
        else:
            result = await asyncio.to_thread(run, **parsed)
        return result

    return FunctionTool(
        name=name,
        description=description,
        params_json_schema=args.model_json_schema(),
        on_invoke_tool=on_invoke,
        # `headers` is an open object of strings, which strict schemas cannot express.
        strict_json_schema=False,
    )


def paybound_tools(client: Paybound | AsyncPaybound, session_id: str, **options: Any) -> list[FunctionTool]:
    """``paid_fetch``, ``session_balance`` and ``search_catalog`` over one session."""
    kit = toolkit(client, session_id, **options)
    runs: list[tuple[str, str, type[BaseModel], Callable[..., Any]]] = [
        ("paid_fetch", PAID_FETCH_DESCRIPTION, PaidFetchArgs, kit.paid_fetch),
        ("session_balance", SESSION_BALANCE_DESCRIPTION, SessionBalanceArgs, kit.session_balance),
        ("search_catalog", SEARCH_CATALOG_DESCRIPTION, SearchCatalogArgs, kit.search_catalog),
    ]
    return [_function_tool(*spec) for spec in runs]
