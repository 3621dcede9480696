"""Every documented ``flowsession.errorcode``: what it means, what the person and an administrator can do.

Source: ``shared/reference/machines-and-diagnosis.md`` section 5, which cites KB 4555406 "Troubleshoot errors
running attended or unattended desktop flows" (RUNERR, 01/19/2024) and KB 5004537 "Troubleshoot desktop flow run
queue errors" (QERR, 07/14/2025). Codes marked ``community`` appear only in third-party guides. The ``retry`` class is
our reading of each fix, not Microsoft's: ``yes`` run again now, ``later`` run again when capacity or time allows,
``after_fix`` run again once the fix is done, ``maybe`` a transient cause is possible, ``no`` nothing changes without
a fix, ``unknown`` not classified. Modes: attended, unattended, local (Power Automate for desktop on the machine).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

Mode = Literal["attended", "unattended", "local"]


class Retry(StrEnum):
    YES = "yes"
    LATER = "later"
    AFTER_FIX = "after_fix"
    MAYBE = "maybe"
    NO = "no"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class RunErrorCode:
    code: str
    meaning: str
    person_fix: str
    admin_fix: str
    retry: Retry
    modes: frozenset[Mode]
    http_status: int | None
    sources: tuple[str, ...]
    community: bool = False

    @property
    def retryable(self) -> bool:
        """Running the flow again, unchanged, may well succeed."""
        return self.retry in (Retry.YES, Retry.LATER)


_AU: frozenset[Mode] = frozenset({"attended", "unattended"})
_A: frozenset[Mode] = frozenset({"attended"})
_U: frozenset[Mode] = frozenset({"unattended"})
_L: frozenset[Mode] = frozenset({"local"})
_ALL: frozenset[Mode] = frozenset({"attended", "unattended", "local"})
_NONE: frozenset[Mode] = frozenset()
_R, _Q, _RQ, _C = ("RUNERR",), ("QERR",), ("RUNERR", "QERR"), ("community",)
_SIGN_OUT = "Sign the connection's user out of the target machine (signing out, not locking), then run again."
_SESSIONS = "Check who is signed in to the machine; unattended runs need the connection's user signed out."
_REGISTER = "Re-register the machine in Power Automate for desktop and point the connection at it."
_PAD = "Update Power Automate for desktop on the machine to the latest version."
_MACHINE = "Check the machine's resources (CPU, memory, disk) and network, and update Power Automate for desktop."


def _entry(
    code: str, http: int | None, modes: frozenset[Mode], retry: Retry, sources: tuple[str, ...], *texts: str
) -> RunErrorCode:
    meaning, person, admin = texts
    return RunErrorCode(code, meaning, person, admin, retry, modes, http, sources, community=sources == _C)


_Y, _LT, _F, _M, _N, _X = Retry.YES, Retry.LATER, Retry.AFTER_FIX, Retry.MAYBE, Retry.NO, Retry.UNKNOWN

_ENTRIES = (
    _entry("NoCandidateMachine", 400, _AU, _LT, _RQ,
           "No machine able to run the desktop flow was found within the queue time limit; the run never started.",
           "Run again later, or spread runs over time; look for a sub-code in the error message and details.",
           "Check that the target machines are online and not in maintenance, add machines or bots to the group."),
    _entry("SessionExistsForTheUserWhenUnattended", 400, _U, _F, _RQ,
           "The connection's user has a session on the machine (even a locked one), which blocks an unattended run.",
           _SIGN_OUT, _SESSIONS),
    _entry("UnattendedUserSessionDisconnected", None, _U, _F, _Q,
           "A disconnected session of the connection's user blocks the unattended run.", _SIGN_OUT, _SESSIONS),
    _entry("UnattendedUserSessionLocked", None, _U, _F, _Q,
           "A locked session of the connection's user blocks the unattended run.", _SIGN_OUT, _SESSIONS),
    _entry("AttendedUserSessionNotActive", None, _A, _F, _Q,
           "The user's session on the machine is locked or disconnected, so the attended run cannot start.",
           "Reconnect to the machine, unlock it and keep the session active; check the run targets that machine.",
           "Verify the connection's target machine in the portal (View machine)."),
    _entry("AttendedUserNotLoggedIn", None, _A, _F, _Q,
           "The connection's user is not signed in to the machine, which an attended run needs.",
           "Sign in to the machine with the connection's user, then run again.",
           "Check the connection's credentials (whoami on the machine) and that the UIFlowService account is in "
           "Remote Desktop Users."),
    _entry("NoUnlockedActiveSessionForAttended", 400, _A, _F, _R,
           "No unlocked, active session of the right user was found for the attended run.",
           "Sign in with the connection's user and unlock the session, then run again.",
           "Check that the connection's user matches the user signed in to the machine."),
    _entry("UIFlowAlreadyRunning", 429, _AU, _Y, _RQ,
           "The machine is busy: its session limit is reached or another desktop flow is running.",
           "Wait for the other run to finish and run again, or cancel the parent cloud flow run.",
           "Add machines or sessions to the group if this happens often."),
    _entry("DesktopFlowsActionThrottled", 429, _AU, _Y, _R,
           "Too many runs were requested on one connection (the limit is about 70 a minute).",
           "Wait a minute and run again.", "Spread runs over several connections."),
    _entry("DesktopFlowsActionTimeout", 400, _AU, _N, _R,
           "The run exceeded its maximum duration.",
           "Run again with a larger timeout if the flow needs longer, or split the flow.",
           "Check why the flow is slow on the machine (waits, dialogs, slow applications)."),
    _entry("GroupIsEmpty", 400, _AU, _N, _R,
           "The machine group targeted by the connection has no machines.",
           "Ask an administrator to add a machine to the group.", "Add at least one machine to the machine group."),
    _entry("XrmMachineGroupNotFound", 404, _AU, _N, _R,
           "The machine group targeted by the connection was deleted.",
           "Ask for a connection that targets an existing machine group.",
           "Re-create the machine group and update the connection to target it."),
    *(
        _entry(code, 404, _AU, _Y, _R,
               "The machine could not be reached: it is offline, or the network or firewall blocks the service.",
               "Check that the machine is on and signed in to Power Automate for desktop, then run again.",
               "Check the machine's network, proxy and firewall rules for the Power Automate endpoints.")
        for code in ("NoListenerConnected", "ConnectionNotEstablished", "ConnectionTimeout")
    ),
    *(
        _entry(code, 404, _AU, _N, _R,
               "The machine's endpoint no longer exists.", "Schedule new runs once the machine is re-registered.",
               _REGISTER)
        for code in ("DnsError", "EndpointDoNotExist")
    ),
    _entry("WindowsIdentityIncorrect", 401, _AU, _N, _R,
           "The connection's credentials could not sign in to the machine.",
           "Check that you can sign in to the machine with the connection's credentials; fix the connection.",
           "Check the username format: domain\\user, user@domain, machine\\user, .\\user or local\\user."),
    _entry("SessionCreationInvalidCredentials", 400, _U, _N, _R,
           "The username format of the connection is wrong for the machine.",
           "Fix the connection's username, then run again.",
           "Entra-joined machines need user@domain.com, domain-joined machines need domain\\user."),
    _entry("SessionCreationError", 400, _U, _M, _R,
           "Windows could not create the remote desktop session for the unattended run.",
           "Run again once; if it fails again, ask an administrator.",
           "Test an RDP sign-in with the connection's user; check third-party sign-in software and legal notices."),
    _entry("SessionCreationWinLogonFailure", 400, _U, _F, _R,
           "Windows could not create a session for the unattended run.", "Ask for the machine to be restarted.",
           "Restart the machine."),
    _entry("SessionNotFound", 400, _U, _M, _R,
           "The session disappeared: the machine rebooted during the run, or the VM was cloned after installation.",
           "Run again; if it repeats, ask an administrator.", _REGISTER),
    _entry("TooManyActiveSessions", 400, _U, _F, _R,
           "Windows Server reached its limit of active sessions.", "Sign out one session on the machine.",
           "Sign out idle sessions or raise the machine's session limit."),
    _entry("Win10AlreadyHasActiveSession", 400, _U, _F, _R,
           "Windows 10/11 allows one session and another user is signed in.", "Sign the other user out.",
           "Keep the machine signed out for unattended runs, or use a multi-session machine."),
    _entry("RDPIsNotEnabled", 400, _U, _N, _R,
           "Remote Desktop is disabled on the machine.", "Ask an administrator to enable Remote Desktop.",
           "Enable Remote Desktop on the machine."),
    _entry("RdpPermissionNotGranted", 400, _U, _N, _R,
           "The connection's user may not sign in through Remote Desktop.",
           "Ask an administrator to grant the permission.",
           "Add the user to the Administrators or Remote Desktop Users group on the machine."),
    _entry("AadLogonFailure", 400, _U, _N, _R,
           "The Entra ID sign-in failed on the machine.", "Ask an administrator.",
           "Disable Network Level Authentication to use Entra credentials."),
    _entry("UnattendedUnsupportedWithOldConnection", 403, _U, _N, _R,
           "This older connection type cannot run unattended.", "Create a new desktop flow connection.",
           "Replace old connections with machine or machine-group connections."),
    _entry("UnsupportedRpaScriptSchemaVersion", 400, _AU, _N, _R,
           "The flow was saved by a newer Power Automate for desktop than the machine runs.",
           "Ask for Power Automate for desktop to be updated on the machine.", _PAD),
    _entry("InvalidUIFlowsCertificates", 401, _AU, _N, _R,
           "The security certificate of the desktop flows app on the machine has expired.",
           "Ask for Power Automate for desktop to be updated on the machine.", _PAD),
    _entry("AuthTokenNotYetValid", 401, _AU, _LT, _R,
           "The machine's clock is behind: a group password was created on a clock in the future.",
           "Run again later.", "Synchronise the machines' clocks."),
    _entry("UIFlowAgentNotAvailable", 400, _AU, _F, _R,
           "The Power Automate service (UIFlowService) is not running on the machine.",
           "Ask for the service to be started.", "Start UIFlowService on the machine."),
    _entry("UIFlowAgentLauncherServiceIsNotRunning", 500, _AU, _F, _R,
           "The Power Automate agent launcher service is not running on the machine.",
           "Ask for the service to be started.", "Start the Power Automate agent launcher service on the machine."),
    _entry("UnableToCallCrlEndpoint", 400, _AU, _N, _R,
           "The machine cannot reach the certificate revocation list endpoints.", "Ask an administrator.",
           "Allow the CRL endpoints through the firewall or proxy."),
    _entry("TotalChunksMismatch", 400, _AU, _M, _R,
           "The flow's payload arrived corrupted on the machine.", "Run again; if it repeats, ask an administrator.",
           "Check disk space and network; from version 2.36 clear the UIFlowService cache."),
    *(
        _entry(code, 500, _AU, _M, _R,
               "The machine failed while running the flow.", "Run again; if it repeats, ask an administrator.",
               _MACHINE)
        for code in ("DesktopFlowMalformedMachineResponse", "WcfServerCrash")
    ),
    _entry("ExistingRecordingSession", 400, _L, _X, _R,
           "Another user is recording or testing a flow on this Windows Server.",
           "Wait for the other recording or test to end.", "Keep recording and unattended work on separate machines."),
    _entry("LocalPlaybackOrRecordingOngoing", 429, _ALL, _Y, _R,
           "A recording or test run is in progress in the same session.",
           "Stop the recording or test run, then run again.", "Keep recording and unattended work apart."),
    _entry("OnPremiseDataGatewayNotAvailable", 502, _AU, _M, _R,
           "The on-premises data gateway (deprecated for desktop flows) is down.",
           "Ask for the connection to be moved to a machine or machine group.",
           "Replace gateway connections with machine or machine-group connections."),
    _entry("MachineNotFound", None, _NONE, _X, _C,
           "The machine is no longer registered.", "Ask for a connection to a registered machine.", _REGISTER),
    _entry("NoSessionFoundForPasswordless", None, _NONE, _X, _C,
           "No session was found for a passwordless (certificate) sign-in.", "Ask an administrator.",
           "Check the connection's passwordless sign-in setup on the machine."),
    _entry("UIFlowServiceNoRdpPermissions", None, _NONE, _X, _C,
           "The UIFlowService account may not use Remote Desktop.", "Ask an administrator.",
           "Add the UIFlowService account to Remote Desktop Users."),
    _entry("SessionNotFoundAfterCreation", None, _NONE, _X, _C,
           "The session created for the run vanished right after creation.", "Run again; if it repeats, ask.",
           "Check sign-in policies and software on the machine that end new sessions."),
    _entry("AccountLockedOut", None, _NONE, _X, _C,
           "The connection's Windows account is locked out.", "Ask for the account to be unlocked.",
           "Unlock the account and check for repeated failed sign-ins (old passwords in connections)."),
)  # fmt: skip

RUN_ERROR_CODES: Mapping[str, RunErrorCode] = {entry.code: entry for entry in _ENTRIES}
