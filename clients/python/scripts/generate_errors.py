"""Generates src/paybound/_catalogue.py, one exception class per code, from the error catalogue.

The catalogue is ``schemas/errors.json`` at the repository root, written from the
TypeScript catalogue; until that file exists, ``tests/fixtures/errors.json`` in the same
format stands in for it. ``tests/test_error_catalogue.py`` renders the module again and
fails when it differs from the file checked in, so the classes cannot drift from the codes.

    python scripts/generate_errors.py           # write the module
    python scripts/generate_errors.py --check   # exit 1 if it is out of date
"""

from __future__ import annotations

import json
import re
import sys
import textwrap
from pathlib import Path
from typing import Any

CLIENT_ROOT = Path(__file__).resolve().parent.parent
PRODUCT_CATALOGUE = CLIENT_ROOT.parent.parent / "schemas" / "errors.json"
FIXTURE_CATALOGUE = CLIENT_ROOT / "tests" / "fixtures" / "errors.json"
OUTPUT = CLIENT_ROOT / "src" / "paybound" / "_catalogue.py"

KINDS = ("refusal", "invalid_request", "not_found", "conflict", "upstream", "unavailable", "auth", "internal")
#: The base class in paybound.errors for each kind (paybound.errors.KIND_BASES says the same at runtime).
KIND_BASES = {
    "refusal": "RefusalError",
    "auth": "AuthError",
    "invalid_request": "InvalidRequestError",
    "not_found": "NotFoundError",
    "conflict": "ConflictError",
    "upstream": "UpstreamError",
    "unavailable": "UnavailableError",
    "internal": "ServerError",
}
CODE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
FIGURE = re.compile(r"^[a-z][A-Za-z0-9]*$")
GRPC_STATUS = re.compile(r"^[A-Z_]+$")
#: A catalogue is a few dozen codes; a much larger file is not one.
ERRORS_MAX = 1_000
TEXT_WIDTH = 96


class CatalogueError(ValueError):
    """The catalogue file does not have the published format."""


def catalogue_path() -> Path:
    """The product's catalogue when it exists, the fixture otherwise."""
    return PRODUCT_CATALOGUE if PRODUCT_CATALOGUE.is_file() else FIXTURE_CATALOGUE


def class_name(code: str) -> str:
    return "".join(part.capitalize() for part in code.split("_"))


def validate(document: Any) -> list[dict[str, Any]]:
    """The catalogue's entries, checked against the published format; raises CatalogueError."""
    if not isinstance(document, dict) or document.get("version") != 1:
        raise CatalogueError('expected an object with "version": 1')
    errors = document.get("errors")
    if not isinstance(errors, list) or not 0 < len(errors) <= ERRORS_MAX:
        raise CatalogueError(f'"errors" must be a list of 1 to {ERRORS_MAX} entries')
    seen_codes: set[str] = set()
    seen_names: set[str] = set(KIND_BASES.values())
    entries: list[dict[str, Any]] = []
    for index, entry in enumerate(errors):
        where = f"errors[{index}]"
        if not isinstance(entry, dict):
            raise CatalogueError(f"{where}: not an object")
        code = entry.get("code")
        if not isinstance(code, str) or not CODE.match(code):
            raise CatalogueError(f"{where}.code: a snake_case code expected, got {code!r}")
        if code in seen_codes:
            raise CatalogueError(f"{where}.code: {code} appears twice")
        name = class_name(code)
        if name in seen_names:
            raise CatalogueError(f"{where}.code: {code} would be named {name}, which is taken")
        status = entry.get("httpStatus")
        if not isinstance(status, int) or isinstance(status, bool) or not 400 <= status <= 599:
            raise CatalogueError(f"{where}.httpStatus: 400 to 599 expected, got {status!r}")
        grpc = entry.get("grpcStatus")
        if not isinstance(grpc, str) or not GRPC_STATUS.match(grpc):
            raise CatalogueError(f"{where}.grpcStatus: a gRPC status name expected, got {grpc!r}")
        kind = entry.get("kind")
        if kind not in KINDS:
            raise CatalogueError(f"{where}.kind: one of {', '.join(KINDS)} expected, got {kind!r}")
        if kind == "refusal" and status != 403:
            raise CatalogueError(f"{where}: a refusal answers 403, not {status}")
        figures = entry.get("figures", [])
        if not isinstance(figures, list) or not all(isinstance(f, str) and FIGURE.match(f) for f in figures):
            raise CatalogueError(f"{where}.figures: a list of camelCase member names expected")
        description = entry.get("description")
        if not isinstance(description, str) or description.strip() == "":
            raise CatalogueError(f"{where}.description: a sentence expected")
        seen_codes.add(code)
        seen_names.add(name)
        entries.append(
            {
                "code": code,
                "httpStatus": status,
                "grpcStatus": grpc,
                "kind": kind,
                "figures": figures,
                "description": description,
            }
        )
    return entries


def _string(text: str, indent: str) -> str:
    """A Python string literal, split over lines in parentheses when it is long."""
    if len(text) <= TEXT_WIDTH - 20:
        return json.dumps(text, ensure_ascii=False)
    pieces = textwrap.wrap(text, TEXT_WIDTH - len(indent) - 4, drop_whitespace=False)
    inner = "".join(f"\n{indent}    {json.dumps(piece, ensure_ascii=False)}" for piece in pieces)
    return f"({inner}\n{indent})"


def _docstring(text: str) -> str:
    safe = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    lines = textwrap.wrap(safe, TEXT_WIDTH - 4)
    if len(lines) == 1:
        return f'    """{lines[0]}"""'
    body = "\n".join(f"    {line}" for line in lines)
    return f'    """\n{body}\n    """'


def render(entries: list[dict[str, Any]], source: str) -> str:
    """The module's text, deterministic for a given catalogue."""
    out: list[str] = [
        '"""The error catalogue as exception classes.',
        "",
        f"Generated from {source} by scripts/generate_errors.py; do not edit.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from typing import ClassVar",
        "",
        "from .errors import (",
        *[f"    {base}," for base in sorted({*KIND_BASES.values(), "PayboundError"})],
        ")",
        "",
        f"CATALOGUE_SOURCE = {json.dumps(source)}",
        "",
    ]
    for entry in entries:
        name = class_name(entry["code"])
        figures = "".join(f"{json.dumps(f)}, " for f in entry["figures"]).rstrip(" ")
        out += [
            "",
            f"class {name}({KIND_BASES[entry['kind']]}):",
            _docstring(entry["description"]),
            "",
            f"    CODE: ClassVar[str | None] = {json.dumps(entry['code'])}",
            f"    KIND: ClassVar[str | None] = {json.dumps(entry['kind'])}",
            f"    HTTP_STATUS: ClassVar[int | None] = {entry['httpStatus']}",
            f"    GRPC_STATUS: ClassVar[str | None] = {json.dumps(entry['grpcStatus'])}",
            f"    FIGURES: ClassVar[tuple[str, ...]] = ({figures})",
            f"    DESCRIPTION: ClassVar[str] = {_string(entry['description'], '    ')}",
            "",
        ]
    names = [class_name(entry["code"]) for entry in entries]
    out += [
        "",
        "#: Every code in precedence order: when several apply, Paybound reports the first.",
        "PRECEDENCE: tuple[str, ...] = (",
        *[f"    {json.dumps(entry['code'])}," for entry in entries],
        ")",
        "",
        "#: The class raised for each code.",
        "ERRORS_BY_CODE: dict[str, type[PayboundError]] = {",
        *[f"    {json.dumps(entry['code'])}: {name}," for name, entry in zip(names, entries, strict=True)],
        "}",
        "",
        "__all__ = [",
        '    "CATALOGUE_SOURCE",',
        '    "ERRORS_BY_CODE",',
        '    "PRECEDENCE",',
        *[f'    "{name}",' for name in sorted(names)],
        "]",
        "",
    ]
    return "\n".join(out)


def generate() -> tuple[Path, str]:
    """The catalogue that applies and the module rendered from it."""
    path = catalogue_path()
    entries = validate(json.loads(path.read_text(encoding="utf-8")))
    source = path.relative_to(CLIENT_ROOT.parent.parent).as_posix()
    return path, render(entries, source)


def main(argv: list[str]) -> int:
    path, text = generate()
    if argv == ["--check"]:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.is_file() else ""
        if current != text:
            print(f"{OUTPUT.name} is out of date with {path}; run: python scripts/generate_errors.py", file=sys.stderr)
            return 1
        return 0
    if argv:
        print("usage: generate_errors.py [--check]", file=sys.stderr)
        return 2
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(CLIENT_ROOT)} from {path.relative_to(CLIENT_ROOT.parent.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
