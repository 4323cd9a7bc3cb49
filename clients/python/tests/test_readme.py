"""The top-level README's "From Python" examples, run as they are written against the test stack."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import REPO_ROOT, Admin, Stack

RUN_TIMEOUT_S = 120


def section() -> str:
    readme = (REPO_ROOT / "README.md").read_text()
    start = readme.index("## From Python\n")
    end = readme.index("\n## ", start + 1)
    return readme[start:end]


def blocks(language: str) -> list[str]:
    """The fenced blocks of the section in ``language`` ("" for blocks without one), in order."""
    found: list[str] = []
    current: list[str] | None = None
    current_language = ""
    for line in section().splitlines(keepends=True):
        if current is None and line.startswith("```"):
            current, current_language = [], line[3:].strip()
        elif current is not None and line.rstrip() == "```":
            if current_language == language:
                found.append("".join(current))
            current = None
        elif current is not None:
            current.append(line)
    return found


def run(code: str, stack: Stack, admin: Admin) -> subprocess.CompletedProcess[str]:
    agent = admin.new_agent()
    environment = {
        **os.environ,
        "PAYBOUND_URL": stack.governor_url,
        "PAYBOUND_AGENT_KEY": agent.api_key,
        "SELLER": stack.seller_data_url,
    }
    return subprocess.run(
        [sys.executable, "-c", code],
        env=environment,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )


def test_the_ten_line_example_prints_what_the_readme_shows(stack: Stack, admin: Admin) -> None:
    example = blocks("python")[0]
    assert len(example.strip().splitlines()) <= 12
    shown = blocks("")[0]

    done = run(example, stack, admin)

    assert done.returncode == 0, done.stderr
    assert done.stdout == shown


@pytest.mark.parametrize("framework", ["LangChain", "OpenAI Agents SDK", "Strands Agents", "CrewAI"])
def test_each_framework_example_runs(stack: Stack, admin: Admin, framework: str) -> None:
    (example,) = [block for block in blocks("python") if block.startswith(f"# {framework}:")]
    done = run(example, stack, admin)
    assert done.returncode == 0, done.stderr
    if framework == "LangChain":
        assert '"paid": "0.01"' in done.stdout
