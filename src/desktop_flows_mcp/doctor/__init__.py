"""``desktop-flows-mcp doctor``: check a setup from the shell, each step with ✔/✘, its time and the fix.

checks.py   the checks, in order, each a thin question to the services the server runs on
report.py   the results, as text for a person or JSON for a script
"""

from .checks import LIMIT_SECONDS, Doctor
from .report import CheckResult, DoctorReport

__all__ = ["LIMIT_SECONDS", "CheckResult", "Doctor", "DoctorReport"]
