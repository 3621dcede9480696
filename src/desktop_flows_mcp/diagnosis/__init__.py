"""Run diagnosis and machine listing: the use cases that read Dataverse to explain a run or show the machines.

    service.py       diagnose_desktop_flow_run: what to read for a run's state, in as few requests as it needs
    machines.py      list_machines: machines and groups with their health
    verdict.py       the verdict from what was read: pure rules, no I/O
    evidence.py      what follows from the rows: the failure, licence findings, the queue estimate
    action_log.py    the tail of a run's action log, or why it has none
    results.py       what the two tools return (Machine and MachineGroup are in ``models.machines``)

The rows are parsed in ``models`` (``machine_rows``, ``evidence``, ``logs``); the tables these read (error codes,
licences, labels, the health rule) are pure data in ``knowledge``. Both are the core.
"""
