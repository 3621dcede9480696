"""Runs as MCP tasks (``io.modelcontextprotocol/tasks``, 2026-07-28 era): start now, collect later.

The run in Dataverse is the task's only record: the task id names the run (``dfrun-<flowsessionId>``), so any
process of this server, after a restart or on another replica, serves it. There is no task store.

=========================  ==========================================================================================
request                    answer
=========================  ==========================================================================================
``tools/call`` of a run    a task (``resultType: "task"``) only for a modern-era request that declares the extension
tool (``task_tools``)      in its ``_meta`` and only once Dataverse accepted the run and the run reads back; every
                           other call, and every refusal, is the ordinary tool result
``tasks/get``              ``working`` + a readable ``statusMessage`` + ``pollIntervalMs`` (the run's wait back-off,
                           longer while queued); ``completed`` + ``result`` = what ``wait_for_desktop_flow_run``
                           returns, also for failed, cancelled and timed-out runs; ``ttlMs`` is always null
``tasks/cancel``           ``cancel_desktop_flow_run``'s rules; a finished run is a harmless ack
``tasks/update``           an ack: runs never ask for input
``subscriptions/listen``   with ``taskIds``: ``notifications/tasks`` whenever a run's status changes, until all end
=========================  ==========================================================================================

Errors: a malformed or unknown task id, or a run of a flow outside ``DESKTOP_FLOWS_ALLOWED``, is ``-32602``; a
request without the extension in its ``_meta`` is ``-32021``; legacy-era ``tasks/*`` is ``-32601``.
"""

from __future__ import annotations

from .extension import RunTasks, WaitForChange, is_run_tool
from .listen import TaskListener

__all__ = ["RunTasks", "TaskListener", "WaitForChange", "is_run_tool"]
