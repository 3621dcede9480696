"""What to do about the well-known ``flowsession.errorcode`` values (KB 4555406, KB 5004537).

``retryable`` means running the flow again later may well succeed without anyone changing anything.
"""

from __future__ import annotations

_HINTS: dict[str, tuple[str, bool]] = {
    "NoCandidateMachine": (
        "No machine in the connection's machine or group picked the run up within the queue limit (six hours). "
        "Check that the machine is online and signed in to Power Automate, that its concurrent-session limit "
        "is not full, then run the flow again.",
        True,
    ),
    "SessionExistsForTheUserWhenUnattended": (
        "Unattended runs need the connection's user to be signed out of the target machine. Sign that user out "
        "(not just lock the screen), or run the flow with run_mode='attended'.",
        True,
    ),
    "NoUnlockedActiveSessionForAttended": (
        "Attended runs need the connection's user signed in with an unlocked session on the machine. Unlock it, "
        "or run with run_mode='unattended'.",
        True,
    ),
    "AttendedUserSessionNotActive": (
        "The attended session is not active; unlock the machine or run unattended.",
        True,
    ),
    "AttendedUserNotLoggedIn": (
        "Nobody is signed in for an attended run; sign the connection's user in, or run unattended.",
        True,
    ),
    "UnattendedUserSessionDisconnected": (
        "A disconnected session of the user blocks unattended runs; sign the user out of the machine.",
        True,
    ),
    "UnattendedUserSessionLocked": (
        "A locked session of the user blocks unattended runs; sign the user out of the machine.",
        True,
    ),
    "UIFlowAlreadyRunning": ("The machine is busy with another desktop flow. Run again when it is free.", True),
    "DesktopFlowsActionThrottled": (
        "Too many runs on this connection (Dataverse allows 70 a minute). Wait a minute, then run again.",
        True,
    ),
    "LocalPlaybackOrRecordingOngoing": ("A local run or recording is in progress on the machine. Retry later.", True),
    "DesktopFlowsActionTimeout": (
        "The run exceeded its maximum duration. Increase timeout_seconds (up to 86400) or speed the flow up.",
        False,
    ),
    "WindowsIdentityIncorrect": (
        "The connection's Windows credentials are wrong (check the username format DOMAIN\\user or "
        "user@domain). Fix the connection in Power Automate.",
        False,
    ),
    "SessionCreationInvalidCredentials": (
        "The connection's Windows credentials were refused. Fix the connection in Power Automate.",
        False,
    ),
    "GroupIsEmpty": ("The machine group has no machines. Add a machine to the group in Power Automate.", False),
    "XrmMachineGroupNotFound": ("The machine group was deleted. Point the connection at an existing one.", False),
    "UnsupportedRpaScriptSchemaVersion": (
        "The flow was saved by a newer Power Automate Desktop than the machine runs. Update the machine.",
        False,
    ),
    "UnattendedUnsupportedWithOldConnection": (
        "This connection type cannot run unattended. Create a new desktop flow connection.",
        False,
    ),
    "TooManyActiveSessions": ("Windows Server reached its session limit. Sign other users out, then retry.", True),
    "RDPIsNotEnabled": ("Enable Remote Desktop on the machine for unattended runs.", False),
    "NoListenerConnected": ("The machine is offline or cannot reach Power Automate. Check its network.", True),
    "ConnectionNotEstablished": ("The machine could not be reached. Check that it is online.", True),
}

_TIMED_OUT = (
    "The run exceeded the timeout it was started with. Run it again with a larger timeout_seconds (up to 86400) "
    "if the flow legitimately needs longer.",
    False,
)


def hint_for(error_code: str | None, status: str) -> tuple[str, bool]:
    """(hint, retryable) for a finished run's error code; a generic one for codes we do not know."""
    if error_code and error_code in _HINTS:
        return _HINTS[error_code]
    if status == "TimedOut":
        return _TIMED_OUT
    if status == "Cancelled":
        return ("The run was cancelled. Start it again with run_desktop_flow if it is still needed.", False)
    return (
        "The desktop flow itself reported this error. Read the message; fix the inputs or the flow, or check the "
        "run's details in the Power Automate portal, then run it again.",
        False,
    )
