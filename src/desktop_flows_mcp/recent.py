"""A small TTL + LRU memory of what the server read moments ago, on the injected ``Clock``'s monotonic time.

Used for what does not change under an agent's feet within seconds (a flow's row and schemas) or at all (a
finished run and its outputs). A run that is not terminal is never kept: someone may be waiting for it.

``per_caller``: each caller's entries are its own (``call_scope.current_owner``): what one person read is never
answered to another from memory. The callers of a single-identity server share one owner, so for them nothing
changes; ``max_items`` bounds all owners together.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

from .call_scope import current_owner
from .clock import Clock

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Recent(Generic[K, V]):
    def __init__(self, ttl: float, max_items: int, clock: Clock, *, per_caller: bool = False) -> None:
        self._ttl = ttl
        self._max_items = max_items
        self._now = clock.monotonic
        self._per_caller = per_caller
        self._items: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()

    def _slot(self, key: K) -> Hashable:
        return (current_owner(), key) if self._per_caller else key

    def get(self, key: K) -> V | None:
        slot = self._slot(key)
        item = self._items.get(slot)
        if item is None:
            return None
        if item[0] <= self._now():
            del self._items[slot]
            return None
        self._items.move_to_end(slot)
        return item[1]

    def __contains__(self, key: K) -> bool:
        return self.get(key) is not None

    def put(self, key: K, value: V) -> None:
        slot = self._slot(key)
        self._items[slot] = (self._now() + self._ttl, value)
        self._items.move_to_end(slot)
        while len(self._items) > self._max_items:
            self._items.popitem(last=False)

    def drop(self, key: K) -> None:
        self._items.pop(self._slot(key), None)
