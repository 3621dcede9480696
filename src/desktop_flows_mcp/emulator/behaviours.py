"""What each seeded desktop flow "does": outputs computed from the inputs, or a realistic failure.

Inputs arrive as whatever JSON the caller sent (PAD coerces text to numbers and back), so the
helpers read them leniently and fall back to the schema defaults.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import cast

from .runs import FAILED, Outcome

Inputs = Mapping[str, object]
Behaviour = Callable[[Inputs], Outcome]


def text(inputs: Inputs, name: str, default: str = "") -> str:
    value = inputs.get(name)
    if value is None:
        return default
    return value if isinstance(value, str) else json.dumps(value)


def number(inputs: Inputs, name: str, default: float = 0.0) -> float:
    value = inputs.get(name)
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).replace(",", ""))
    except ValueError:
        return default


def items(inputs: Inputs, name: str) -> list[object]:
    value = inputs.get(name)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return [part.strip() for part in value.split(",") if part.strip()]
    return list(value) if isinstance(value, list) else []  # pyright: ignore[reportUnknownArgumentType]


def digits(seed: str, count: int) -> str:
    """Stable pseudo-random digits, so the same inputs always give the same document numbers."""
    return str(int(hashlib.sha256(seed.encode()).hexdigest(), 16))[:count]


def succeed(**outputs: object) -> Outcome:
    return Outcome(outputs=dict(outputs))


def _line_amount(line: object) -> float:
    return number(cast(Inputs, line), "Amount") if isinstance(line, dict) else 0.0


def enter_invoice(inputs: Inputs) -> Outcome:
    invoice = text(inputs, "InvoiceNumber", "INV-0000")
    lines = items(inputs, "LineItems")
    total = number(inputs, "Amount") or sum(_line_amount(line) for line in lines)
    document = f"51{digits(invoice, 8)}"
    status = "Posted" if text(inputs, "PostImmediately", "true").lower() != "false" else "Parked"
    return succeed(DocumentNumber=document, PostedTotal=round(total, 2), Status=status)


VENDORS = [
    {
        "VendorId": "100234",
        "Name": "Contoso Office Supplies",
        "City": "Redmond",
        "Country": "US",
        "Blocked": False,
    },
    {
        "VendorId": "100871",
        "Name": "Fabrikam Industrial GmbH",
        "City": "München",
        "Country": "DE",
        "Blocked": False,
    },
    {"VendorId": "101502", "Name": "Northwind Traders", "City": "Seattle", "Country": "US", "Blocked": True},
    {"VendorId": "102116", "Name": "O'Brien & Sons Ltd", "City": "Dublin", "Country": "IE", "Blocked": False},
    {
        "VendorId": "103390",
        "Name": "Société Générale d'Emballage",
        "City": "Lyon",
        "Country": "FR",
        "Blocked": False,
    },
]


def lookup_vendor(inputs: Inputs) -> Outcome:
    query = text(inputs, "VendorName").casefold()
    matches = [vendor for vendor in VENDORS if query and query in str(vendor["Name"]).casefold()]
    record = {**matches[0], "CompanyCode": text(inputs, "CompanyCode", "1000")} if matches else {}
    return succeed(VendorRecord=record, MatchCount=len(matches))


def sales_report(inputs: Inputs) -> Outcome:
    month = text(inputs, "Month", "2026-06")
    region = text(inputs, "Region", "EMEA")
    return succeed(
        ReportPath=f"\\\\fileserver\\reports\\sales\\{region}\\sales-{month}.xlsx",
        RowCount=int(digits(month + region, 4)),
    )


def no_candidate_machine(inputs: Inputs) -> Outcome:
    return Outcome(
        FAILED,
        errorcode="NoCandidateMachine",
        errormessage=(
            "There is no machine available in the machine group 'Citizen portal bots' to run the desktop "
            "flow. The run waited in the queue for longer than the allowed time."
        ),
        leaves_queue=False,
        assigned=False,
    )


def reconcile_statement(inputs: Inputs) -> Outcome:
    rows = items(inputs, "Transactions")
    unmatched = [f"TX-{digits(text(inputs, 'AccountNumber') + str(i), 6)}" for i in range(len(rows) % 3)]
    return succeed(MatchedCount=len(rows) - len(unmatched), Unmatched=unmatched, Balanced=not unmatched)


def extract_pdf(inputs: Inputs) -> Outcome:
    folder = text(inputs, "FolderPath", "C:\\Invoices\\Inbox").rstrip("\\")
    return Outcome(
        FAILED,
        errorcode="ActionFailed",
        errormessage=(
            f"Extract tables from PDF: The file '{folder}\\scan_0042.pdf' is password protected "
            "(Subflow: main, Action: 7, Action name: Extract tables from PDF)."
        ),
        failed_action="Extract tables from PDF",
        errordetails='{"subflow": "main", "actionIndex": 7, "actionName": "Extract tables from PDF"}',
    )


def update_contacts(inputs: Inputs) -> Outcome:
    workbook = text(inputs, "WorkbookPath", "contacts.xlsx")
    dry_run = text(inputs, "DryRun", "false").lower() == "true"
    count = int(digits(workbook, 2))
    errors = [] if count % 4 else ["Row 7: missing e-mail"]
    return succeed(UpdatedContacts=0 if dry_run else count, Errors=errors)


def create_ad_user(inputs: Inputs) -> Outcome:
    first, last = text(inputs, "FirstName", "new"), text(inputs, "LastName", "user")
    account = (first[:1] + last).lower().replace(" ", "").replace("'", "")[:20]
    return succeed(SamAccountName=account, UserPrincipalName=f"{account}@contoso.com", TemporaryPasswordSet=True)


def balance_inquiry(inputs: Inputs) -> Outcome:
    account = text(inputs, "AccountNumber", "0000000000")
    return succeed(Balance=int(digits(account, 7)) / 100, Currency="USD", AsOf="2026-06-30")


def print_labels(inputs: Inputs) -> Outcome:
    orders = items(inputs, "OrderIds")
    carrier = text(inputs, "Carrier", "UPS").upper()
    tracking = [f"1Z{carrier[:3]}{digits(str(order), 10)}" for order in orders]
    return succeed(LabelsPrinted=len(orders), TrackingNumbers=tracking)


def post_batch(inputs: Inputs) -> Outcome:
    batch = text(inputs, "BatchDate", "2026-06-30")
    return succeed(PostedCount=int(digits(batch, 2)), BatchId=f"OBS-{batch.replace('-', '')}")


def meter_readings(inputs: Inputs) -> Outcome:
    meter = text(inputs, "Zaehlernummer", "1APA0000000000")
    reading = number(inputs, "Zaehlerstand")
    confirmation = f"Zählerstand {reading:g} für Zähler {meter} übertragen"
    return succeed(Bestaetigung=confirmation, Vorgangsnummer=digits(meter, 9))


def reconciliation(inputs: Inputs) -> Outcome:
    account = text(inputs, "Compte", "FR76 0000")
    report = f"Rapprochement {text(inputs, 'Mois', '2026-06')} OK"
    return succeed(EcartsTrouves=int(digits(account, 1)), Rapport=report)


def apply_discount(inputs: Inputs) -> Outcome:
    amount = number(inputs, "OrderTotal")
    return succeed(DiscountedTotal=round(amount * 0.9, 2), OrderId=text(inputs, "OrderId"))


def export_balances(inputs: Inputs) -> Outcome:
    period = text(inputs, "Period", "2026-06")
    return succeed(ExportFile=f"GL_balances_{period}.csv", Accounts=int(digits(period, 3)))


def vpn_check(inputs: Inputs) -> Outcome:
    return succeed(Reachable=True, LatencyMs=23)


def windows_identity_incorrect(inputs: Inputs) -> Outcome:
    return Outcome(
        FAILED,
        errorcode="WindowsIdentityIncorrect",
        errormessage=(
            "The credentials of the connection could not sign in to the machine: the user name or password for "
            "'CONTOSO\\svc-rpa-supplier' is incorrect."
        ),
        leaves_queue=False,
        errordetails='{"sessionUser": "CONTOSO\\\\svc-rpa-supplier"}',
    )


def ship_pick_lists(inputs: Inputs) -> Outcome:
    orders = items(inputs, "OrderIds")
    return succeed(PickListsPrinted=len(orders), Wave=f"W-{digits(str(orders), 5)}")


def process_claim(inputs: Inputs) -> Outcome:
    claim = text(inputs, "ClaimNumber", "CLM-000000")
    return succeed(Decision="Approved" if int(digits(claim, 2)) % 3 else "Referred", Reference=f"CR{digits(claim, 8)}")


def approve_timesheets(inputs: Inputs) -> Outcome:
    week = text(inputs, "Week", "2026-W22")
    return succeed(Approved=int(digits(week, 2)), Week=week)
