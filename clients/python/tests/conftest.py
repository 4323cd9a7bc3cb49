"""The test session runs against a real Paybound, started once by libs/devnet/stack-cli.ts.

The launcher starts embedded PostgreSQL, anvil with the test dollar, the official x402
seller and facilitator, the governor and the settlement worker on free loopback ports,
prints one JSON line saying where they are, and stops them all by PID when its stdin
closes, which happens at the end of the session even if pytest is killed.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from paybound import Paybound

CLIENT_ROOT = Path(__file__).resolve().parent.parent
REPO_ROOT = CLIENT_ROOT.parent.parent
STACK_CLI = REPO_ROOT / "dist" / "libs" / "devnet" / "stack-cli.js"
#: Compiling the kit's contracts, initialising PostgreSQL and migrating: about 30 s here.
STACK_START_TIMEOUT_S = 240
STACK_STOP_TIMEOUT_S = 60
BALANCE_OF_SELECTOR = "0x70a08231"


@dataclasses.dataclass(frozen=True)
class Stack:
    governor_url: str
    admin_token: str
    seller_url: str
    seller_data_url: str
    price_atomic: int
    chain_rpc_url: str
    network: str
    token_address: str
    token_decimals: int
    payer_address: str
    payee_address: str
    facilitator_url: str
    logs_dir: Path
    pids: dict[str, int]

    @property
    def price(self) -> Decimal:
        return Decimal(self.price_atomic).scaleb(-self.token_decimals)

    def token_balance(self, address: str) -> int:
        """The test dollar balance of ``address``, read from the chain over JSON-RPC (eth_call)."""
        data = BALANCE_OF_SELECTOR + address.lower().removeprefix("0x").rjust(64, "0")
        answer = httpx.post(
            self.chain_rpc_url,
            json={
                "jsonrpc": "2.0",
                "id": 1,
                "method": "eth_call",
                "params": [{"to": self.token_address, "data": data}, "latest"],
            },
            timeout=10,
        ).json()
        return int(answer["result"], 16)


@dataclasses.dataclass(frozen=True)
class Agent:
    org_id: str
    agent_id: str
    api_key: str


def _read_ready_line(process: subprocess.Popen[str], timeout_s: float) -> str:
    lines: list[str] = []
    reader = threading.Thread(
        target=lambda: lines.append(process.stdout.readline() if process.stdout else ""), daemon=True
    )
    reader.start()
    reader.join(timeout_s)
    return lines[0] if lines else ""


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not STACK_CLI.is_file():
        pytest.fail(f"{STACK_CLI} is missing: run `npm ci && npm run build` at the repository root first")
    launcher_log = tmp_path_factory.mktemp("stack") / "launcher.log"
    with launcher_log.open("w") as log:
        process = subprocess.Popen(
            ["node", str(STACK_CLI)],
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    try:
        line = _read_ready_line(process, STACK_START_TIMEOUT_S)
        if not line:
            process.kill()
            process.wait(STACK_STOP_TIMEOUT_S)
            pytest.fail(f"the stack did not start:\n{launcher_log.read_text()[-4000:]}")
        ready = json.loads(line)
        yield Stack(
            governor_url=ready["governorUrl"],
            admin_token=ready["adminToken"],
            seller_url=ready["sellerUrl"],
            seller_data_url=ready["sellerDataUrl"],
            price_atomic=int(ready["priceAtomic"]),
            chain_rpc_url=ready["chainRpcUrl"],
            network=ready["network"],
            token_address=ready["tokenAddress"],
            token_decimals=int(ready["tokenDecimals"]),
            payer_address=ready["payerAddress"],
            payee_address=ready["payeeAddress"],
            facilitator_url=ready["facilitatorUrl"],
            logs_dir=Path(ready["logsDir"]),
            pids={name: int(pid) for name, pid in ready["pids"].items()},
        )
    finally:
        # Closing stdin is the launcher's signal to stop everything it started, by PID.
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(STACK_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.terminate()
            process.wait(STACK_STOP_TIMEOUT_S)


class Admin:
    """The admin API, as an operator would use it to set up the tests' orgs and agents."""

    def __init__(self, stack: Stack) -> None:
        self.http = httpx.Client(
            base_url=stack.governor_url, headers={"authorization": f"Bearer {stack.admin_token}"}, timeout=30
        )

    def call(self, method: str, path: str, body: Any = None, **headers: str) -> httpx.Response:
        response = self.http.request(method, path, json=body, headers=headers)
        if not response.is_success:
            raise AssertionError(f"{method} {path} answered {response.status_code}: {response.text[:300]}")
        return response

    def new_agent(self, *, org_limit: str | None = "100.00", agent_limit: str | None = None) -> Agent:
        """A fresh org with one agent, so that no test shares a budget with another."""
        org_id = f"org-{uuid.uuid4().hex[:12]}"
        self.call("POST", "/admin/v1/orgs", {"id": org_id, "name": org_id, "limit": org_limit})
        created = self.call(
            "POST", f"/admin/v1/orgs/{org_id}/agents", {"id": "agent", "name": "agent", "limit": agent_limit}
        )
        return Agent(org_id=org_id, agent_id="agent", api_key=created.json()["apiKey"])

    def set_agent_policy(self, agent: Agent, policy: dict[str, Any]) -> None:
        path = f"/admin/v1/orgs/{agent.org_id}/agents/{agent.agent_id}/policy"
        etag = self.call("GET", path).headers.get("etag", "")
        self.call("PUT", path, policy, **({"If-Match": etag} if etag else {}))


@pytest.fixture(scope="session")
def admin(stack: Stack) -> Iterator[Admin]:
    admin = Admin(stack)
    yield admin
    admin.http.close()


@pytest.fixture
def agent(admin: Admin) -> Agent:
    return admin.new_agent()


@pytest.fixture
def client(stack: Stack, agent: Agent) -> Iterator[Paybound]:
    with Paybound(stack.governor_url, agent.api_key) as paybound:
        yield paybound


def wait_until(check: Callable[[], Any], what: str, timeout_s: float = 30.0, interval_s: float = 0.2) -> Any:
    """Polls ``check`` until it answers something truthy; the bound keeps a failing test short."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s} s")
        time.sleep(interval_s)
