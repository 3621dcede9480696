"""Print what a person and an agent see when DESKTOP_FLOWS_APPROVAL=runs, over the built-in emulator in process.

    python bench/approval_exchange.py           # 2026-07-28 (server/discover)
    python bench/approval_exchange.py legacy    # 2025-11-25 (initialize)

First a client with form elicitation: the question its person is shown, and the run that starts after a yes. Then a
client without it: the approval_required result (preview and confirm_token), and the same call with the token.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import anyio
from mcp import Client
from mcp.types import CallToolResult, ElicitRequestFormParams, ElicitResult

from desktop_flows_mcp.app import App
from desktop_flows_mcp.config import Settings
from desktop_flows_mcp.server import build_server

RUN = {
    "flow": "Enter invoices into legacy ERP",
    "inputs": {"InvoiceNumber": "INV-2026-0412", "VendorId": "V-9", "Amount": 1250.0, "Currency": "EUR"},
}


def shown(result: CallToolResult) -> str:
    return json.dumps(result.structured_content, indent=2, ensure_ascii=False)


async def ask_person(context: Any, params: Any) -> ElicitResult:
    assert isinstance(params, ElicitRequestFormParams)
    print("--- the question (2025: elicitation/create; 2026-07-28: inside input_required), as the person sees it ---")
    print(params.message)
    print("form:", json.dumps(params.requested_schema["properties"]))
    print("--- the person answers: accept, approve=true ---")
    return ElicitResult(action="accept", content={"approve": True})


async def main(mode: str) -> None:
    server = build_server(App(Settings.from_env({"DESKTOP_FLOWS_APPROVAL": "runs"})))
    async with Client(server, mode=mode, elicitation_callback=ask_person) as client:
        print(f"=== a client with form elicitation ({client.protocol_version}) ===")
        print(f"run_desktop_flow {json.dumps(RUN)}")
        print(shown(await client.call_tool("run_desktop_flow", RUN)))
    async with Client(server, mode=mode) as client:
        print(f"\n=== a client without elicitation ({client.protocol_version}) ===")
        print(f"run_desktop_flow {json.dumps(RUN)}")
        asked = await client.call_tool("run_desktop_flow", RUN)
        print(shown(asked))
        token = (asked.structured_content or {})["error"]["approval"]["confirm_token"]
        print(f"\n--- the person agreed; the agent calls again with confirm_token={token} ---")
        print(shown(await client.call_tool("run_desktop_flow", {**RUN, "confirm_token": token})))
        print("\n--- the same token again ---")
        print(shown(await client.call_tool("run_desktop_flow", {**RUN, "confirm_token": token})))


if __name__ == "__main__":
    anyio.run(main, sys.argv[1] if len(sys.argv) > 1 else "auto")
