"""Entra's own JSON error, when msal quotes it in an exception instead of returning it.

Entra's refusals are worded in ``errors.entra`` (``entra_error``), from the AADSTS table in ``knowledge.aadsts``.
"""

from __future__ import annotations

import json
import re
from typing import Any, cast

# Worded in errors/ now; still importable from here for code written against the old place.
from ..errors import SignInContext, aadsts_codes, application_user_hint, entra_error, first_line

__all__ = [
    "SignInContext",
    "aadsts_codes",
    "application_user_hint",
    "entra_body_in",
    "entra_error",
    "first_line",
]

_QUOTED_BODY = re.compile(r"Error: (\{.*\})\s*$", re.DOTALL)


def entra_body_in(exc: BaseException) -> dict[str, Any] | None:
    """Entra's own JSON error when msal quoted it in an exception (or the one it replaced), else None.

    msal turns a refused OpenID configuration request into a ValueError that quotes the answer, then wraps that
    in another ValueError without it; the code must come from Entra's answer, never be guessed from the text.
    """
    seen: BaseException | None = exc
    for _ in range(4):
        if seen is None:
            break
        found = _QUOTED_BODY.search(str(seen))
        if found:
            try:
                body = json.loads(found.group(1))
            except ValueError:
                body = None
            if isinstance(body, dict) and ("error" in body or "error_codes" in body):
                return cast(dict[str, Any], body)
        seen = seen.__cause__ or seen.__context__
    return None
