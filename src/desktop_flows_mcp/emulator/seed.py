"""The demo catalogue: desktop flows from everyday RPA work, other workflows, connections.

Flow GUIDs are hard-coded so demos, docs and tests can name them. Runs queue for 1 s and run for
a few seconds and succeed with outputs derived from their inputs, except:

- "Download monthly sales report" runs 600 s, so the caller's ``timeout`` decides between
  Succeeded and TimedOut (10);
- "Fill permit application on government portal" fails in the queue after 4 s: Failed (8),
  ``NoCandidateMachine``, never started;
- "Extract data from PDF invoices" fails after starting: Failed (8), ``ActionFailed``;
- "Check VPN connectivity" has no inputs (its input schema ``$value`` is 204);
- "Scrape competitor prices" and "Migrate Lotus Notes archive" are drafts, "Copy payroll export
  to FTP" is suspended: listed (drafts only with the header) but not runnable.

Diagnosis demo flows (``DIAGNOSIS_FLOWS``; a ``target`` pins the machine or group a flow runs on,
whatever connection the caller names, see ``placement``): "Generate warehouse pick lists" waits on the
offline WH-PC-07; "Process insurance claim" queues behind the busy claims group; "Download supplier
statements" fails ``WindowsIdentityIncorrect``; "Approve timesheets in HR system" runs on HR-PC-03,
which has no unattended bot (licence check fails). The permit flow is pinned to the hosted group that
failed to provision.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from . import behaviours as b
from .behaviours import Behaviour
from .machines import BUSY_CONNECTION, HOSTED_CONNECTION, OFFLINE_CONNECTION, UNLICENSED_CONNECTION

DESKTOP_FLOW, MODERN_FLOW, CLASSIC_WORKFLOW, BUSINESS_RULE = 6, 5, 0, 2
PUBLISHED, DRAFT, SUSPENDED = "published", "draft", "suspended"


@dataclass(frozen=True)
class Variable:
    """A PAD input/output variable; ``type`` is the schema type (datatable is passed through)."""

    name: str
    type: str = "string"
    description: str = ""


@dataclass(frozen=True)
class FlowSeed:
    id: str
    name: str
    description: str | None
    inputs: tuple[Variable, ...] | None
    outputs: tuple[Variable, ...] | None
    behaviour: Behaviour
    queue_seconds: float = 1.0
    run_seconds: float = 3.0
    state: str = PUBLISHED
    age_days: int = 120
    target: str | None = None  # a connection whose machine or group this flow always runs on


@dataclass(frozen=True)
class OtherWorkflow:
    id: str
    name: str
    category: int
    statecode: int = 1
    description: str | None = None


@dataclass(frozen=True)
class ConnectionReference:
    id: str
    logical_name: str
    display_name: str
    connector: str
    connection_id: str | None
    description: str | None = None


def V(name: str, type: str = "string", description: str = "") -> Variable:
    return Variable(name, type, description)


FLOWS: tuple[FlowSeed, ...] = (
    FlowSeed("3a1f5c2e-8b4d-4e6f-9a21-0c7d3e5b8f14", "Enter invoices into legacy ERP",
             "Keys supplier invoices into the AS/400 accounts-payable screens and posts them.",
             (V("InvoiceNumber", description="Supplier invoice number, e.g. INV-2026-0412"), V("VendorId"),
              V("Amount", "number"), V("Currency"), V("PostImmediately", "boolean"), V("LineItems", "array")),
             (V("DocumentNumber"), V("PostedTotal", "number"), V("Status")), b.enter_invoice, run_seconds=3),
    FlowSeed("7c4e2a91-3d5f-4b8a-a6e0-2f9c1d7b4e53", "SAP vendor lookup",
             "Searches vendor master data in SAP GUI (XK03) and returns the first match.",
             (V("VendorName"), V("CompanyCode")), (V("VendorRecord", "object"), V("MatchCount", "number")),
             b.lookup_vendor, run_seconds=2),
    FlowSeed("e2b8d4f6-1a3c-4d5e-8f70-9b6a2c4e1d38", "Download monthly sales report",
             "Signs in to the BI portal, exports the monthly sales report and saves it to the file share.",
             (V("Month", description="yyyy-MM"), V("Region")), (V("ReportPath"), V("RowCount", "number")),
             b.sales_report, run_seconds=600),
    FlowSeed("5d9b3f17-6e2a-4c8d-b1f4-3a7e9c2d6b80", "Fill permit application on government portal",
             "Completes the business permit form on the city's citizen portal.",
             (V("ApplicantName"), V("PermitType"), V("Attachments", "array")), (V("ConfirmationNumber"),),
             b.no_candidate_machine, queue_seconds=4, target=HOSTED_CONNECTION),
    FlowSeed("a6c1e8b3-4f2d-4a9e-8c57-1e3b5d7f9a26", "Reconcile bank statement",
             "Matches the bank statement export against open items in the ledger.",
             (V("StatementFile"), V("AccountNumber"), V("Transactions", "datatable")),
             (V("MatchedCount", "number"), V("Unmatched", "array"), V("Balanced", "boolean")),
             b.reconcile_statement, run_seconds=4),
    FlowSeed("f4a7c2d9-8b1e-4f3a-9d65-7c2e4a8b1f90", "Extract data from PDF invoices",
             "Reads scanned PDF invoices from a folder and extracts header and line data.",
             (V("FolderPath"), V("MaxFiles", "number")),
             (V("Invoices", "datatable"), V("ExtractedCount", "number")),
             b.extract_pdf, run_seconds=2),
    FlowSeed("0b5e9d3a-2c7f-4e1b-a8d4-6f3b9e1c5a72", "Update CRM contact from Excel",
             None, (V("WorkbookPath"), V("SheetName"), V("DryRun", "boolean")),
             (V("UpdatedContacts", "number"), V("Errors", "array")), b.update_contacts),
    FlowSeed("c8e3a1f5-7d2b-4b6c-9e08-4a1d7f3c9b25", "Create user account in Active Directory",
             "Creates the AD account from an HR onboarding request and adds it to groups.",
             (V("FirstName"), V("LastName"), V("Department"), V("Groups", "array"), V("Manager", "object")),
             (V("SamAccountName"), V("UserPrincipalName"), V("TemporaryPasswordSet", "boolean")),
             b.create_ad_user),
    FlowSeed("9f2d6b4e-3a8c-4d1f-b7e5-8c4a2f6d0e19", "Mainframe 3270 balance inquiry",
             "Opens a TN3270 session and reads the account balance screen (CICS transaction BALQ).",
             (V("AccountNumber"),), (V("Balance", "number"), V("Currency"), V("AsOf")), b.balance_inquiry),
    FlowSeed("2e7a4c9f-5b1d-4a3e-8f6c-0d9b3e7a5c41", "Print shipping labels",
             "Prints carrier labels for packed orders from the warehouse client.",
             (V("OrderIds", "array"), V("Carrier"), V("PrinterName")),
             (V("LabelsPrinted", "number"), V("TrackingNumbers", "array")), b.print_labels),
    FlowSeed("6b3d8f1a-9e4c-4f2b-a5d7-3c8e1b6f4a09", "Post O'Brien & Sons invoices",
             "Posts the weekly invoice batch for the O'Brien & Sons account.",
             (V("BatchDate"),), (V("PostedCount", "number"), V("BatchId")), b.post_batch),
    FlowSeed("d1f5b9e3-6c2a-4e8d-9b47-5a2f8c1e7d63", "Zählerstände übertragen",
             "Überträgt Zählerstände in das Abrechnungssystem des Stadtwerks.",
             (V("Zaehlernummer"), V("Zaehlerstand", "number")), (V("Bestaetigung"), V("Vorgangsnummer")),
             b.meter_readings),
    FlowSeed("4c8a2e6f-1d9b-4c3e-b6f1-9e5d3a7c2b84", "Réconciliation bancaire",
             "Rapprochement bancaire mensuel dans le logiciel comptable.",
             (V("Compte"), V("Mois")), (V("EcartsTrouves", "number"), V("Rapport")), b.reconciliation),
    FlowSeed("8e1c5a3d-7f4b-4d9a-8e26-2b7f5d9c3a17", "Apply 10% discount",
             "Applies the loyalty discount to an order in the web shop back office.",
             (V("OrderId"), V("OrderTotal", "number")), (V("DiscountedTotal", "number"), V("OrderId")),
             b.apply_discount),
    FlowSeed("b7f3e1c9-2a5d-4f8b-9c34-6e1a8d4f2b75", "Export_GL_balances",
             "Exports general-ledger balances for the period close.",
             (V("Period"),), (V("ExportFile"), V("Accounts", "number")), b.export_balances),
    FlowSeed("1a9c7e5b-3f6d-4b2a-8d19-7f4c2e9a6b58", "Check VPN connectivity",
             "Pings the branch-office VPN gateways. Takes no inputs.",
             None, (V("Reachable", "boolean"), V("LatencyMs", "number")), b.vpn_check, run_seconds=1),
    FlowSeed("5f2b8d6e-4c1a-4e7f-a3b9-1d6e4c8f2a93", "Scrape competitor prices",
             "Work in progress.", (V("ProductUrl"),), (V("Price", "number"),), b.vpn_check, state=DRAFT),
    FlowSeed("e9d4a2c7-6b3f-4a1e-9f58-4c2b7e9d1a36", "Migrate Lotus Notes archive",
             None, None, None, b.vpn_check, state=DRAFT),
    FlowSeed("7a5e3c1f-8d2b-4f6a-b9c4-5e8a1d3f7c62", "Copy payroll export to FTP",
             "Suspended: the FTP connector is blocked by the tenant's data policy.",
             (V("ExportPath"),), (V("Uploaded", "boolean"),), b.vpn_check, state=SUSPENDED),
)  # fmt: skip

DIAGNOSIS_FLOWS: tuple[FlowSeed, ...] = (
    FlowSeed("c2a8e4f1-7b3d-4e6a-9f15-8d2c6b4a1e73", "Generate warehouse pick lists",
             "Prints the pick lists of a wave on the warehouse office PC.",
             (V("OrderIds", "array"), V("Warehouse")), (V("PickListsPrinted", "number"), V("Wave")),
             b.ship_pick_lists, target=OFFLINE_CONNECTION),
    FlowSeed("4b9f1d6c-2e8a-4c7b-a5d3-9e1f7c2b8a46", "Process insurance claim",
             "Checks a claim against the policy system and records the decision.",
             (V("ClaimNumber"), V("PolicyNumber"), V("Amount", "number")), (V("Decision"), V("Reference")),
             b.process_claim, run_seconds=1200, target=BUSY_CONNECTION),
    FlowSeed("8d3c5a7e-6f2b-4d1a-b9e4-3a7c1f5d9b82", "Download supplier statements",
             "Signs in to the supplier portal with the bot account and downloads monthly statements.",
             (V("SupplierId"), V("Month")), (V("Files", "array"),), b.windows_identity_incorrect),
    FlowSeed("e5b1d9f3-8c4a-4f7e-a2b6-1d8e5c3f7a90", "Approve timesheets in HR system",
             "Approves the submitted timesheets of a week in the HR system.",
             (V("Week", description="ISO week, e.g. 2026-W22"),), (V("Approved", "number"), V("Week")),
             b.approve_timesheets, target=UNLICENSED_CONNECTION),
)  # fmt: skip
ALL_FLOWS = FLOWS + DIAGNOSIS_FLOWS

OTHER_WORKFLOWS: tuple[OtherWorkflow, ...] = (
    OtherWorkflow("0d4f8b2a-6e1c-4a9d-8b35-3f7a9c1e5d42", "Enter invoices into legacy ERP (cloud trigger)",
                  MODERN_FLOW, description="Cloud flow that calls the desktop flow when an invoice arrives."),
    OtherWorkflow("a3e7c5b1-9d2f-4e8a-b6c4-0f5d3a9e7b21", "When an invoice arrives in SharePoint",
                  MODERN_FLOW),
    OtherWorkflow("6c2a9e4d-1f7b-4d3c-a8e5-9b1f6d4a2c87", "Daily approval reminders", MODERN_FLOW,
                  statecode=0),
    OtherWorkflow("f8b1d3e7-5a9c-4f2e-8d6b-2c7e5a1f9d34", "Account follow-up workflow", CLASSIC_WORKFLOW),
    OtherWorkflow("2d6f9a1c-7e3b-4c5d-9a82-8e4c1f7b3d56", "Qualify lead business rule", BUSINESS_RULE),
)  # fmt: skip

UIFLOW_CONNECTOR = "/providers/Microsoft.PowerApps/apis/shared_uiflow"

# Connection names usable with connectionType 1 (connections are not Dataverse rows).
CONNECTIONS = {
    "shared-uiflow-7f3c1a": "Finance bots (machine group, unattended)",
    "shared-uiflow-2b9e44": "Ops workstation OPS-WS-014 (attended)",
    OFFLINE_CONNECTION: "Warehouse PC WH-PC-07 (heartbeat stopped)",
    BUSY_CONNECTION: "Claims processing bots (machine group, busy)",
    HOSTED_CONNECTION: "Citizen portal bots (hosted machine group, provisioning failed)",
    UNLICENSED_CONNECTION: "HR desk PC HR-PC-03 (no unattended bot)",
}

CONNECTION_REFERENCES: tuple[ConnectionReference, ...] = (
    ConnectionReference("4e8b2d6a-3c9f-4a1e-b7d5-6f2a8c4e1b93", "contoso_DesktopFlowsFinanceBots",
                        "Desktop flows - Finance bots", UIFLOW_CONNECTOR, "shared-uiflow-7f3c1a",
                        "Unattended runs on the finance machine group."),
    ConnectionReference("9c1f5a7e-2b4d-4e8c-a6f3-1d9b5e7c3a48", "contoso_DesktopFlowsOpsWorkstation",
                        "Desktop flows - Ops workstation", UIFLOW_CONNECTOR, "shared-uiflow-2b9e44"),
    ConnectionReference("d5a3e9c1-7f2b-4d6e-8a14-3b7f9d2e5c61", "contoso_DesktopFlowsUnbound",
                        "Desktop flows - not configured", UIFLOW_CONNECTOR, None,
                        "Imported with the solution; no connection set yet."),
    ConnectionReference("1b7d3f9e-5a2c-4e6b-9d83-7c1e5b9f3a24", "contoso_SharePointOnline",
                        "SharePoint - Finance site",
                        "/providers/Microsoft.PowerApps/apis/shared_sharepointonline",
                        "shared-sharepointonl-5d8e21"),
    ConnectionReference("8f4c2a6d-9e1b-4f3a-b5c7-2a8e6d4f1c95", "contoso_Office365Outlook",
                        "Office 365 Outlook - AP mailbox",
                        "/providers/Microsoft.PowerApps/apis/shared_office365",
                        "shared-office365-9a4c17"),
)  # fmt: skip


def schema_json(variables: tuple[Variable, ...] | None, *, outputs: bool) -> str | None:
    """The loose schema JSON PAD stores in workflow.inputs/outputs (string-typed values, no ``required``)."""
    if variables is None:
        return None
    samples = {"number": "0", "boolean": "False", "array": "[]", "object": "{}"}
    properties = {
        v.name: {
            "default": "",
            "description": v.description,
            "format": None,
            "title": v.name,
            "type": v.type,
            "value": None if outputs else samples.get(v.type, ""),
        }
        for v in variables
    }
    return json.dumps({"schema": {"properties": properties, "type": "object"}})
