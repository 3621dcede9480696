"""T-SQL ``LIKE`` patterns, which Dataverse's contains/startswith/endswith compile to.

``%`` is any run of characters, ``_`` one character, ``[abc]``/``[a-z]`` a class, ``[^...]`` a
negated class; so ``[%]``, ``[_]`` and ``[[]`` match those characters literally. Matching ignores case.

A pattern is matched in one pass over the text, never by backtracking: the set of pattern positions
reached so far is a bit set, and each character moves it forward once (``%`` keeps its bit set). The
work is (text length) x (pattern length / 64), whatever the pattern: a filter with many ``%`` cannot
stall the emulator.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class _CharClass:
    members: frozenset[str]
    ranges: tuple[tuple[str, str], ...]
    negate: bool

    def accepts(self, char: str) -> bool:
        if not self.members and not self.ranges:
            return False  # "[]" and "[^]" match nothing, as in SQL Server
        variants = {char, char.lower(), char.upper(), char.casefold()}
        hit = any(v in self.members or any(lo <= v <= hi for lo, hi in self.ranges) for v in variants)
        return hit != self.negate


_Token = str | _CharClass | None  # a casefolded literal character, a class (or "_": any), or % (None)
_ANY = _CharClass(frozenset(), (("\0", "\U0010ffff"),), negate=False)


class LikePattern:
    """A compiled LIKE pattern; ``fullmatch(text)`` says whether the whole text matches."""

    def __init__(self, tokens: tuple[_Token, ...]) -> None:
        self.tokens = tokens
        self._star_mask = sum(1 << i for i, token in enumerate(tokens) if token is None)
        self._char_masks: dict[str, int] = {}

    def fullmatch(self, text: str) -> bool:
        accept = 1 << len(self.tokens)
        states = self._close(1)  # bit i: the first i tokens match the text read so far
        for char in text:
            states = self._close(((states & self._mask(char)) << 1) | (states & self._star_mask))
            if not states:
                return False
        return bool(states & accept)

    def _close(self, states: int) -> int:
        """A % also matches nothing, so reaching it reaches the token after it (runs of % are one)."""
        return states | ((states & self._star_mask) << 1)

    def _mask(self, char: str) -> int:
        """Bit i set when token i is a single-character test that ``char`` passes (cached per character)."""
        mask = self._char_masks.get(char)
        if mask is None:
            folded = char.casefold()
            mask = sum(1 << i for i, token in enumerate(self.tokens) if _accepts(token, char, folded))
            if len(self._char_masks) < 4096:
                self._char_masks[char] = mask
        return mask


def _accepts(token: _Token, char: str, folded: str) -> bool:
    if token is None:
        return False
    if isinstance(token, str):
        return token == folded
    return token.accepts(char)


def like_pattern(pattern: str) -> LikePattern:
    """Compile a T-SQL LIKE pattern (case-insensitive)."""
    tokens: list[_Token] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        close = pattern.find("]", i + 1) if char == "[" else -1
        if char == "%":
            if not tokens or tokens[-1] is not None:
                tokens.append(None)
        elif char == "_":
            tokens.append(_ANY)
        elif close != -1:
            tokens.append(_char_class(pattern[i + 1 : close]))
            i = close
        else:
            tokens.extend(char.casefold())  # "ß" folds to "ss": two characters of a folded text
        i += 1
    return LikePattern(tuple(tokens))


def _char_class(body: str) -> _CharClass:
    negate = body.startswith("^")
    body = body[1:] if negate else body
    members: set[str] = set()
    ranges: list[tuple[str, str]] = []
    k = 0
    while k < len(body):
        if k + 2 < len(body) and body[k + 1] == "-":
            ranges.append((body[k], body[k + 2]))
            k += 3
        else:
            members.add(body[k])
            k += 1
    return _CharClass(frozenset(members), tuple(ranges), negate)
