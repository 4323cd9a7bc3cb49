"""Strands Agents tools (``@tool``): ``pip install "paybound[strands]"``.

    from strands import Agent
    from paybound.tools.strands import paybound_tools

    agent = Agent(tools=paybound_tools(paybound, session.id))

Works with a ``Paybound`` or an ``AsyncPaybound``. Each tool returns JSON text; a refusal
is an answer, not an error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from strands import tool
from strands.tools.decorator import DecoratedFunctionTool

from ..aio import AsyncPaybound
from ..client import Paybound
from . import PAID_FETCH_DESCRIPTION, SEARCH_CATALOG_DESCRIPTION, SESSION_BALANCE_DESCRIPTION, toolkit
from ._args import PaidFetchArgs, SearchCatalogArgs, SessionBalanceArgs


def _tool(
    name: str, description: str, args: type[BaseModel], run: Callable[..., Any]
) -> DecoratedFunctionTool[..., Any]:
    decorated: DecoratedFunctionTool[..., Any] = tool(
        name=name, description=description, inputSchema=args.model_json_schema()
    )(run)
    return decorated


def paybound_tools(
    client: Paybound | AsyncPaybound, session_id: str, **options: Any
) -> list[DecoratedFunctionTool[..., Any]]:
    """``paid_fetch``, ``session_balance`` and ``search_catalog`` over one session."""
    kit = toolkit(client, session_id, **options)
    return [
        _tool("paid_fetch", PAID_FETCH_DESCRIPTION, PaidFetchArgs, kit.paid_fetch),
        _tool("session_balance", SESSION_BALANCE_DESCRIPTION, SessionBalanceArgs, kit.session_balance),
        _tool("search_catalog", SEARCH_CATALOG_DESCRIPTION, SearchCatalogArgs, kit.search_catalog),
    ]
