"""T-SQL ``LIKE`` patterns, which Dataverse's contains/startswith/endswith compile to.

``%`` is any run of characters, ``_`` one character, ``[abc]``/``[a-z]`` a class, ``[^...]`` a
negated class; so ``[%]``, ``[_]`` and ``[[]`` match those characters literally.
"""

from __future__ import annotations

import re


def like_pattern(pattern: str) -> re.Pattern[str]:
    """Translate a T-SQL LIKE pattern into a case-insensitive regular expression."""
    parts: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        close = pattern.find("]", i + 1) if char == "[" else -1
        if char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        elif close != -1:
            body = pattern[i + 1 : close]
            negate = body.startswith("^")
            body = body[1:] if negate else body
            members = "".join("-" if c == "-" and 0 < k < len(body) - 1 else re.escape(c) for k, c in enumerate(body))
            parts.append(f"[{'^' if negate else ''}{members}]" if members else "(?!)")
            i = close
        else:
            parts.append(re.escape(char))
        i += 1
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)
