"""The models and the calls follow the OpenAPI document the running governor serves.

Each model is compared with the schema the document gives for the answer of the call that
returns it: the same fields (by wire name), and for each field a compatible type (USD
amounts are Decimal, times datetime, nullable fields Optional, enums the same values).
The calls' parameters are compared with the request bodies and query parameters. A field
added, removed, renamed or retyped on either side fails here.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
import typing
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

import httpx
import pytest

from conftest import Agent, Stack
from paybound import Balance, CatalogPage, Paybound, Payment, RefusalError, Session, SessionEvent, SignedPayment
from paybound.models import wire_fields

Schema = dict[str, Any]

#: (method, path, status) → the model the client reads that answer into.
ANSWERS: list[tuple[str, str, str, type[Any]]] = [
    ("post", "/v1/sessions", "201", Session),
    ("get", "/v1/sessions/{id}", "200", Session),
    ("post", "/v1/sessions/{id}/payments", "201", SignedPayment),
    ("post", "/v1/sessions/{id}/payments", "202", SignedPayment),
    ("get", "/v1/payments/{id}", "200", SignedPayment),
    ("post", "/v1/payments/{id}/result", "200", Payment),
    ("get", "/v1/catalog", "200", CatalogPage),
]
#: The close call is being added to the governor and its document by another branch.
CLOSE_ANSWER = ("post", "/v1/sessions/{id}/close", "200", Session)

#: (method, path, client method, how its keyword parameters are named in the body).
BODIES: list[tuple[str, str, Callable[..., Any], Mapping[str, str]]] = [
    ("post", "/v1/sessions", Paybound.open_session, {}),
    ("post", "/v1/sessions/{id}/payments", Paybound.request_payment, {}),
    ("post", "/v1/sessions/{id}/fetch", Paybound.fetch, {"json": "body"}),
    ("post", "/v1/payments/{id}/result", Paybound.report_result, {}),
]
#: Identify the resource or the call rather than going into the body.
NOT_BODY = {"self", "session_id", "payment_id", "idempotency_key"}


@pytest.fixture(scope="module")
def document(stack: Stack) -> Schema:
    answer = httpx.get(f"{stack.governor_url}/docs/openapi.json", timeout=30)
    answer.raise_for_status()
    doc: Schema = answer.json()
    return doc


def resolve(doc: Schema, schema: Schema) -> Schema:
    while "$ref" in schema:
        node: Any = doc
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def properties(doc: Schema, schema: Schema) -> dict[str, Schema]:
    schema = resolve(doc, schema)
    merged: dict[str, Schema] = {}
    for part in schema.get("allOf", []):
        merged.update(properties(doc, part))
    merged.update(schema.get("properties", {}))
    return merged


def answer_schema(doc: Schema, method: str, path: str, status: str) -> Schema:
    operation = doc["paths"][path][method]
    content = operation["responses"][status]["content"]
    schema: Schema = next(iter(content.values()))["schema"]
    return schema


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def alternatives(doc: Schema, schema: Schema) -> list[Schema]:
    schema = resolve(doc, schema)
    if "oneOf" in schema:
        return [alt for part in schema["oneOf"] for alt in alternatives(doc, part)]
    types = schema.get("type")
    if isinstance(types, list):
        return [{**schema, "type": t} for t in types]
    return [schema]


def is_usd(schema: Schema) -> bool:
    return schema.get("type") == "string" and "pattern" in schema and r"\d" in schema["pattern"]


def mismatches(doc: Schema, model: type[Any], schema: Schema, where: str) -> list[str]:
    """Every difference between a model and a schema, as readable lines."""
    props = properties(doc, schema)
    fields = wire_fields(model)
    problems = [
        f"{where}.{name}: in the document, not in {model.__name__}"
        for name in sorted(set(props) - set(fields.values()))
    ]
    problems += [
        f"{where}.{name}: in {model.__name__}, not in the document"
        for name in sorted(set(fields.values()) - set(props))
    ]
    hints = typing.get_type_hints(model)
    for attribute, name in fields.items():
        if name in props:
            problems += field_mismatches(doc, hints[attribute], props[name], f"{where}.{name}")
    return problems


def field_mismatches(doc: Schema, hint: Any, schema: Schema, where: str) -> list[str]:
    options = alternatives(doc, schema)
    nullable = any(option.get("type") == "null" for option in options)
    values = [option for option in options if option.get("type") != "null"]
    args = typing.get_args(hint)
    optional = type(None) in args
    if optional:
        (hint,) = [arg for arg in args if arg is not type(None)]
        args = typing.get_args(hint)
    problems = []
    if optional != nullable:
        problems.append(f"{where}: nullable {nullable} in the document, Optional {optional} in the model")
    if len(values) != 1:
        return [*problems, f"{where}: {len(values)} non-null alternatives in the document"]
    value = resolve(doc, values[0])
    origin = typing.get_origin(hint)
    expected: bool
    if hint is Decimal:
        expected = is_usd(value)
    elif hint is datetime:
        expected = value.get("type") == "string" and value.get("format") == "date-time"
    elif hint is str:
        expected = value.get("type") == "string" and not is_usd(value) and value.get("format") != "date-time"
    elif origin is Literal:
        expected = value.get("type") == "string" and sorted(value.get("enum", [])) == sorted(args)
    elif hint is int:
        # Atomic amounts are decimal strings on the wire; counts are integers.
        expected = value.get("type") in ("integer", "string")
    elif hint is bool:
        expected = value.get("type") == "boolean"
    elif origin is tuple:
        expected = value.get("type") == "array"
        if expected and dataclasses.is_dataclass(args[0]):
            problems += mismatches(doc, typing.cast(type[Any], args[0]), value["items"], f"{where}[]")
    elif origin is Mapping:
        expected = value.get("type") == "object"
    elif dataclasses.is_dataclass(hint):
        expected = value.get("type") == "object"
        problems += mismatches(doc, typing.cast(type[Any], hint), value, where)
    else:
        expected = False
    if not expected:
        problems.append(f"{where}: {hint!r} in the model does not read {value}")
    return problems


@pytest.mark.parametrize(("method", "path", "status", "model"), ANSWERS, ids=lambda v: getattr(v, "__name__", str(v)))
def test_each_model_matches_the_answer_it_reads(
    document: Schema, method: str, path: str, status: str, model: type[Any]
) -> None:
    assert (
        mismatches(document, model, answer_schema(document, method, path, status), f"{method.upper()} {path} {status}")
        == []
    )


def test_the_close_answer_is_a_session(document: Schema) -> None:
    """Needs POST /v1/sessions/{id}/close in the document, which another branch is adding."""
    method, path, status, model = CLOSE_ANSWER
    assert path in document["paths"], f"{path} is not in the governor's OpenAPI document"
    assert mismatches(document, model, answer_schema(document, method, path, status), f"{method.upper()} {path}") == []


@pytest.mark.parametrize(("method", "path", "call", "renamed"), BODIES, ids=lambda v: getattr(v, "__name__", None))
def test_each_call_sends_the_documented_body(
    document: Schema, method: str, path: str, call: Callable[..., Any], renamed: Mapping[str, str]
) -> None:
    operation = document["paths"][path][method]
    schema = next(iter(operation["requestBody"]["content"].values()))["schema"]
    parameters = [p for p in inspect.signature(call).parameters if p not in NOT_BODY]
    assert {renamed.get(p, camel(p)) for p in parameters} == set(properties(document, schema))


def test_the_catalog_search_sends_the_documented_query(document: Schema) -> None:
    documented = {p["name"] for p in document["paths"]["/v1/catalog"]["get"]["parameters"] if p["in"] == "query"}
    parameters = {camel(p) for p in inspect.signature(Paybound.search_catalog).parameters if p != "self"}
    assert parameters == documented


def test_exactly_the_spending_calls_send_an_idempotency_key(document: Schema) -> None:
    documented = {
        (method, path)
        for path, operations in document["paths"].items()
        if path.startswith("/v1/")
        for method, operation in operations.items()
        if any(p.get("name") == "Idempotency-Key" for p in operation.get("parameters", []))
    }
    keyed: dict[tuple[str, str], Callable[..., Any]] = {
        ("post", "/v1/sessions"): Paybound.open_session,
        ("post", "/v1/sessions/{id}/payments"): Paybound.request_payment,
        ("post", "/v1/sessions/{id}/fetch"): Paybound.fetch,
    }
    assert documented == set(keyed)
    for call in keyed.values():
        assert "idempotency_key" in inspect.signature(call).parameters


def test_refusal_figures_are_documented_members_of_the_problem(document: Schema) -> None:
    problem = properties(document, {"$ref": "#/components/schemas/Problem"})
    figures = {
        "level": "level",
        "limit": "limit",
        "requested": "requested",
        "remaining": "remaining",
        "payment_id": "paymentId",
    }
    for attribute, name in figures.items():
        assert isinstance(getattr(RefusalError, attribute), property)
        assert name in problem, f"RefusalError.{attribute} reads {name}, which the Problem schema does not list"
    for name in ("limit", "requested", "remaining"):
        assert is_usd(problem[name]), f"Problem.{name} is not a USD amount in the document"


def test_stream_events_carry_the_fields_the_model_reads(stack: Stack, agent: Agent, client: Paybound) -> None:
    """The document says only `text/event-stream`; the live stream is compared instead."""
    session = client.open_session("1.00")
    with httpx.stream(
        "GET",
        f"{stack.governor_url}/v1/sessions/{session.id}/stream",
        headers={"authorization": f"Bearer {agent.api_key}"},
        timeout=30,
    ) as stream:
        data = next(line for line in stream.iter_lines() if line.startswith("data: "))
    event = json.loads(data.removeprefix("data: "))
    assert set(event) == set(wire_fields(SessionEvent).values())
    assert set(event["balance"]) == set(wire_fields(Balance).values())
    assert re.fullmatch(r"ses_[0-9a-f-]+", event["data"]["sessionId"])
