"""LangChain tools (``langchain-core``): ``pip install "paybound[langchain]"``.

    from paybound.tools.langchain import paybound_tools

    tools = paybound_tools(paybound, session.id)        # paid_fetch, session_balance, search_catalog
    model_with_tools = chat_model.bind_tools(tools)

With a ``Paybound`` the tools run synchronously (``invoke``), with an ``AsyncPaybound``
asynchronously (``ainvoke``). Each returns JSON text; a refusal is an answer, not an error.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, ValidationError
from pydantic.v1 import ValidationError as ValidationErrorV1

from ..aio import AsyncPaybound
from ..client import Paybound
from . import (
    PAID_FETCH_DESCRIPTION,
    SEARCH_CATALOG_DESCRIPTION,
    SESSION_BALANCE_DESCRIPTION,
    AsyncPayboundToolkit,
    text,
    toolkit,
)
from ._args import PaidFetchArgs, SearchCatalogArgs, SessionBalanceArgs


def paybound_tools(client: Paybound | AsyncPaybound, session_id: str, **options: Any) -> list[BaseTool]:
    """``paid_fetch``, ``session_balance`` and ``search_catalog`` over one session."""
    kit = toolkit(client, session_id, **options)
    if isinstance(kit, AsyncPayboundToolkit):
        runs: list[tuple[str, str, type[BaseModel], Callable[..., Any]]] = [
            ("paid_fetch", PAID_FETCH_DESCRIPTION, PaidFetchArgs, kit.paid_fetch),
            ("session_balance", SESSION_BALANCE_DESCRIPTION, SessionBalanceArgs, kit.session_balance),
            ("search_catalog", SEARCH_CATALOG_DESCRIPTION, SearchCatalogArgs, kit.search_catalog),
        ]
        return [_structured(name, description, args, coroutine=run) for name, description, args, run in runs]
    runs = [
        ("paid_fetch", PAID_FETCH_DESCRIPTION, PaidFetchArgs, kit.paid_fetch),
        ("session_balance", SESSION_BALANCE_DESCRIPTION, SessionBalanceArgs, kit.session_balance),
        ("search_catalog", SEARCH_CATALOG_DESCRIPTION, SearchCatalogArgs, kit.search_catalog),
    ]
    return [_structured(name, description, args, func=run) for name, description, args, run in runs]


def _told(error: ValidationError | ValidationErrorV1) -> str:
    return text({"error": "invalid_arguments", "detail": str(error)})


def _structured(
    name: str,
    description: str,
    args: type[BaseModel],
    *,
    func: Callable[..., Any] | None = None,
    coroutine: Callable[..., Awaitable[Any]] | None = None,
) -> BaseTool:
    return StructuredTool.from_function(
        func=func,
        coroutine=coroutine,
        name=name,
        description=description,
        args_schema=args,
        # Arguments the schema refuses are told to the model, which can correct them.
        handle_validation_error=_told,
    )
