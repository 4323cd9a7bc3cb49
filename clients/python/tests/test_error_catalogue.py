"""The exception classes are the error catalogue, regenerated and compared so they cannot drift.

The catalogue is ``schemas/errors.json`` when it exists at the repository root, and
``tests/fixtures/errors.json`` (same format) until then.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import paybound
from paybound import _catalogue
from paybound.errors import KIND_BASES, PayboundError, RefusalError

CLIENT_ROOT = Path(__file__).resolve().parent.parent
REPO_ROOT = CLIENT_ROOT.parent.parent


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_errors", CLIENT_ROOT / "scripts" / "generate_errors.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["generate_errors"] = module
    spec.loader.exec_module(module)
    return module


generator = load_generator()


def catalogue_entries() -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = generator.validate(json.loads(generator.catalogue_path().read_text()))
    return entries


def test_the_checked_in_module_is_what_the_catalogue_generates() -> None:
    path, text = generator.generate()
    assert (CLIENT_ROOT / "src" / "paybound" / "_catalogue.py").read_text() == text, (
        f"src/paybound/_catalogue.py is out of date with {path}: run python scripts/generate_errors.py"
    )
    assert path.relative_to(REPO_ROOT).as_posix() == _catalogue.CATALOGUE_SOURCE


def test_the_product_catalogue_is_read_once_it_exists() -> None:
    expected = REPO_ROOT / "schemas" / "errors.json"
    assert generator.catalogue_path() == (
        expected if expected.is_file() else CLIENT_ROOT / "tests/fixtures/errors.json"
    )


@pytest.mark.parametrize("entry", catalogue_entries(), ids=lambda entry: entry["code"])
def test_every_code_has_its_class_with_the_catalogues_facts(entry: dict[str, Any]) -> None:
    cls = _catalogue.ERRORS_BY_CODE[entry["code"]]
    assert getattr(paybound, cls.__name__) is cls
    assert issubclass(cls, KIND_BASES[entry["kind"]])
    assert (
        entry["code"],
        entry["kind"],
        entry["httpStatus"],
        entry["grpcStatus"],
    ) == (cls.CODE, cls.KIND, cls.HTTP_STATUS, cls.GRPC_STATUS)
    assert tuple(entry["figures"]) == cls.FIGURES
    assert entry["description"] == cls.DESCRIPTION
    error = cls("detail", status=entry["httpStatus"])
    assert error.code == entry["code"]
    assert isinstance(error, PayboundError)


def test_precedence_is_the_catalogues_order() -> None:
    assert list(_catalogue.PRECEDENCE) == [entry["code"] for entry in catalogue_entries()]


def test_the_issues_names_are_the_refusals_classes() -> None:
    for name in ("SessionLimitExceeded", "PriceAboveMax", "ApprovalRequired"):
        assert issubclass(getattr(paybound, name), RefusalError)


def typescript_union(path: str, type_name: str) -> set[str]:
    source = (REPO_ROOT / path).read_text()
    match = re.search(rf"export type {type_name} =(.*?);", source, re.DOTALL)
    assert match is not None, f"{type_name} is not in {path}"
    return set(re.findall(r"'([a-z_]+)'", match.group(1)))


def test_every_refusal_code_of_the_domain_is_a_refusal_in_the_catalogue() -> None:
    refusals = typescript_union("libs/domain/budget/events.ts", "RefusalCode") | typescript_union(
        "libs/domain/budget/policy.ts", "PolicyRefusalCode"
    )
    kinds = {entry["code"]: entry["kind"] for entry in catalogue_entries()}
    assert refusals, "no refusal codes were read from the domain"
    assert {code: kinds.get(code) for code in refusals} == dict.fromkeys(refusals, "refusal")


def test_every_domain_error_code_is_in_the_catalogue() -> None:
    codes = typescript_union("libs/domain/budget/errors.ts", "DomainErrorCode")
    assert codes
    assert codes - {entry["code"] for entry in catalogue_entries()} == set()


def test_every_problem_code_thrown_by_the_governor_is_in_the_catalogue() -> None:
    thrown: set[str] = set()
    for folder in ("apps", "libs"):
        for source in (REPO_ROOT / folder).rglob("*.ts"):
            if source.name.endswith(".spec.ts"):
                continue
            thrown |= set(re.findall(r"new ApiProblem\(\s*\d{3},\s*'([a-z_]+)'", source.read_text()))
    assert len(thrown) > 10
    assert thrown - {entry["code"] for entry in catalogue_entries()} == set()


VALID = {
    "version": 1,
    "errors": [
        {
            "code": "session_limit_exceeded",
            "httpStatus": 403,
            "grpcStatus": "PERMISSION_DENIED",
            "kind": "refusal",
            "figures": ["limit"],
            "description": "No.",
        }
    ],
}


def broken(change: str) -> dict[str, Any]:
    document: dict[str, Any] = copy.deepcopy(VALID)
    entry = document["errors"][0]
    if change == "version":
        document["version"] = 2
    elif change == "duplicate":
        document["errors"].append(dict(entry))
    elif change == "camel_code":
        entry["code"] = "sessionLimit"
    elif change == "refusal_not_403":
        entry["httpStatus"] = 400
    elif change == "unknown_kind":
        entry["kind"] = "oops"
    elif change == "status_text":
        entry["httpStatus"] = "403"
    elif change == "figure_not_a_name":
        entry["figures"] = ["limit; drop"]
    elif change == "no_description":
        entry["description"] = " "
    elif change == "name_of_a_base":
        entry["code"] = "refusal_error"
    return document


@pytest.mark.parametrize(
    "change",
    [
        "version",
        "duplicate",
        "camel_code",
        "refusal_not_403",
        "unknown_kind",
        "status_text",
        "figure_not_a_name",
        "no_description",
        "name_of_a_base",
    ],
)
def test_the_generator_refuses_a_catalogue_not_in_the_published_format(change: str) -> None:
    assert generator.validate(copy.deepcopy(VALID))
    with pytest.raises(generator.CatalogueError):
        generator.validate(broken(change))


def test_a_generated_module_is_valid_python_that_names_each_code() -> None:
    text = generator.render(generator.validate(VALID), "somewhere/errors.json")
    namespace: dict[str, Any] = {}
    exec(compile(text.replace("from .errors import", "from paybound.errors import"), "generated", "exec"), namespace)  # noqa: S102
    assert namespace["ERRORS_BY_CODE"]["session_limit_exceeded"].FIGURES == ("limit",)
