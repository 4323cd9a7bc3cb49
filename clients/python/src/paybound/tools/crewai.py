"""CrewAI tools: ``pip install "paybound[crewai]"``.

    from crewai import Agent
    from paybound.tools.crewai import paybound_tools

    researcher = Agent(role="researcher", goal="…", backstory="…", tools=paybound_tools(paybound, session.id))

CrewAI runs tools synchronously, so these take a ``Paybound``. Each returns JSON text; a
refusal is an answer, not an error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crewai.tools import BaseTool
from pydantic import BaseModel, PrivateAttr

from ..client import Paybound
from . import PAID_FETCH_DESCRIPTION, SEARCH_CATALOG_DESCRIPTION, SESSION_BALANCE_DESCRIPTION, PayboundToolkit
from ._args import PaidFetchArgs, SearchCatalogArgs, SessionBalanceArgs


class PayboundTool(BaseTool):
    """One of the toolkit's tools; CrewAI validates the arguments with ``args_schema`` first."""

    _call: Callable[..., str] = PrivateAttr()

    def _run(self, **arguments: Any) -> str:
        return self._call(**arguments)


def _tool(name: str, description: str, args: type[BaseModel], call: Callable[..., str]) -> PayboundTool:
    tool = PayboundTool(name=name, description=description, args_schema=args)
    tool._call = call
    return tool


def paybound_tools(client: Paybound, session_id: str, **options: Any) -> list[BaseTool]:
    """``paid_fetch``, ``session_balance`` and ``search_catalog`` over one session."""
    kit = PayboundToolkit(client, session_id, **options)
    return [
        _tool("paid_fetch", PAID_FETCH_DESCRIPTION, PaidFetchArgs, kit.paid_fetch),
        _tool("session_balance", SESSION_BALANCE_DESCRIPTION, SessionBalanceArgs, kit.session_balance),
        _tool("search_catalog", SEARCH_CATALOG_DESCRIPTION, SearchCatalogArgs, kit.search_catalog),
    ]
