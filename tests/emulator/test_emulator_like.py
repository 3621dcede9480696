"""LIKE matching in the emulator: one pass over the text whatever the pattern, same answers as a regex."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator

from hypothesis import assume, given
from hypothesis import strategies as st

from desktop_flows_mcp.emulator.like import like_pattern


class CountingText(str):
    """A text that counts the characters a matcher reads from it."""

    reads = 0

    def __iter__(self) -> Iterator[str]:
        for char in super().__iter__():
            CountingText.reads += 1
            yield char


def reads_to_match(pattern: str, text: str) -> tuple[bool, int]:
    CountingText.reads = 0
    matched = bool(like_pattern(pattern).fullmatch(CountingText(text)))
    return matched, CountingText.reads


def test_many_percent_signs_cost_one_pass_over_a_long_text_that_does_not_match() -> None:
    assert reads_to_match("%a%", "xxa") == (True, 3)  # the counter sees the matcher read
    # 30 "%a" parts (contains() wraps them in % too) against 10 kB holding only 29 a's: a backtracking
    # matcher tries about 2**29 ways to place them; a regex took 7 s for 10 a's and 60 s for 14.
    pattern = "%" + "%a" * 30 + "%"
    text = ("b" * 332 + "a") * 29 + "b" * 300
    assert len(text) > 9_900
    assert reads_to_match(pattern, text) == (False, len(text))
    assert reads_to_match(pattern, text + "A") == (True, len(text) + 1)


def test_a_pattern_that_cannot_match_stops_reading_early() -> None:
    matched, reads = reads_to_match("a%", "b" + "a" * 10_000)
    assert (matched, reads) == (False, 1)


def reference(pattern: str) -> re.Pattern[str]:
    """The emulator's earlier regex translation, the reference for small inputs."""
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


@given(pattern=st.text("abcAB%_[]^-", max_size=10), text=st.text("abcAB%_[]-", max_size=12))
def test_matching_agrees_with_a_regex_on_small_inputs(pattern: str, text: str) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", FutureWarning)
            expected = reference(pattern).fullmatch(text.casefold()) is not None
    except (re.error, FutureWarning):  # [c-a] or [A--A]: the regex refuses or doubts it, so it is no reference
        assume(False)
        raise
    assert like_pattern(pattern).fullmatch(text.casefold()) == expected
