"""Past runs, so a fresh emulator already has weeks of realistic flowsession history.

Generated from a fixed random seed relative to the clock at start-up: mostly Succeeded runs with
outputs, plus machine/session failures, flow errors, a timeout and cancellations.
"""

from __future__ import annotations

import random
import uuid

from .runs import FAILED, Outcome, Run
from .seed import FLOWS, PUBLISHED, FlowSeed

HISTORY_NAMESPACE = uuid.UUID("b5b0c1de-5e55-4a1e-9d00-f10e5e551011")
HISTORY_SIZE = 48
DAY = 86_400.0

SAMPLE_INPUTS: dict[str, dict[str, object]] = {
    "Enter invoices into legacy ERP": {
        "InvoiceNumber": "INV-2026-0412",
        "VendorId": "100234",
        "Amount": 1249.5,
        "Currency": "EUR",
        "PostImmediately": True,
        "LineItems": [{"Sku": "PAPER-A4", "Amount": 1249.5}],
    },
    "SAP vendor lookup": {"VendorName": "Fabrikam", "CompanyCode": "1000"},
    "Download monthly sales report": {"Month": "2026-05", "Region": "EMEA"},
    "Reconcile bank statement": {"StatementFile": "stmt-05.csv", "AccountNumber": "DE44500105175407324931"},
    "Update CRM contact from Excel": {"WorkbookPath": "C:\\Data\\contacts.xlsx", "SheetName": "May"},
    "Create user account in Active Directory": {
        "FirstName": "Dana",
        "LastName": "Kowalski",
        "Department": "AP",
    },
    "Mainframe 3270 balance inquiry": {"AccountNumber": "0042117395"},
    "Print shipping labels": {"OrderIds": ["SO-88121", "SO-88122"], "Carrier": "UPS", "PrinterName": "ZB-01"},
    "Post O'Brien & Sons invoices": {"BatchDate": "2026-05-29"},
    "Zählerstände übertragen": {"Zaehlernummer": "1APA0123456789", "Zaehlerstand": 48213},
    "Réconciliation bancaire": {"Compte": "FR76 3000 6000 0112 3456 7890 189", "Mois": "2026-05"},
    "Apply 10% discount": {"OrderId": "WEB-20931", "OrderTotal": 180},
    "Export_GL_balances": {"Period": "2026-05"},
}

SESSION_FAILURES = (
    (
        "SessionExistsForTheUserWhenUnattended",
        "There is a user session on the target machine. Sign out the user.",
    ),
    ("NoUnlockedActiveSessionForAttended", "No active and unlocked session was found for the attended run."),
    ("UIFlowAlreadyRunning", "Another desktop flow is already running on the machine."),
)


def build_history(now: float, owner_id: str) -> list[Run]:
    rng = random.Random(20260601)
    flows = [flow for flow in FLOWS if flow.state == PUBLISHED]
    runs: list[Run] = []
    for index in range(HISTORY_SIZE):
        flow = rng.choice(flows)
        created = now - rng.uniform(0.5, 28.0) * DAY
        runs.append(_past_run(rng, index, flow, created, owner_id))
    runs.sort(key=lambda run: run.created_at)
    return runs


def _past_run(rng: random.Random, index: int, flow: FlowSeed, created: float, owner_id: str) -> Run:
    inputs = SAMPLE_INPUTS.get(flow.name, {})
    outcome = flow.behaviour(inputs)
    roll = rng.random()
    if outcome.statuscode != FAILED and roll < 0.12:
        code, message = rng.choice(SESSION_FAILURES)
        outcome = Outcome(FAILED, errorcode=code, errormessage=message)
    # A flow pinned to a target stands for the connection to it (as its scenario runs do), so each connection's
    # runs all go where that connection points; the draw is made either way, so the rest of the history is the same.
    connection = rng.choice(["shared-uiflow-7f3c1a", "shared-uiflow-2b9e44"])
    run = Run(
        id=str(uuid.uuid5(HISTORY_NAMESPACE, str(index))),
        workflow_id=flow.id,
        name=flow.name,
        owner_id=owner_id,
        connection_id=flow.target or connection,
        run_mode=rng.choice([1, 2, 2]),
        inputs=dict(inputs),
        created_at=created,
        queue_seconds=round(rng.uniform(2, 90)),
        run_seconds=min(flow.run_seconds * rng.uniform(8, 40), 3000),
        timeout=7200 if flow.run_seconds < 600 else rng.choice([900, 7200]),
        outcome=outcome,
        base_version=4_100_000 + index * 17,
    )
    if 0.12 <= roll < 0.2:
        run.cancelled_at = created + run.queue_seconds + rng.uniform(1, 20)
    return run
