"""What the tool call in progress asks of the use cases below it, without widening every signature on the way.

``answer_at_once`` is set while the caller takes the run's id at once and follows the run elsewhere (an MCP task,
``tasks/``): a start then never waits, whatever ``wait_seconds`` says, and so sends no progress either. A
``ContextVar``, so concurrent calls never see each other's.
"""

from __future__ import annotations

from contextvars import ContextVar

answer_at_once: ContextVar[bool] = ContextVar("answer_at_once", default=False)
