"""A small TTL + LRU memory of what the server read moments ago, on the injected ``Clock``'s monotonic time.

Used for what does not change under an agent's feet within seconds (a flow's row and schemas) or at all (a
finished run and its outputs). A run that is not terminal is never kept: someone may be waiting for it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

from .clock import Clock

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Recent(Generic[K, V]):
    def __init__(self, ttl: float, max_items: int, clock: Clock) -> None:
        self._ttl = ttl
        self._max_items = max_items
        self._now = clock.monotonic
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(self, key: K) -> V | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item[0] <= self._now():
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return item[1]

    def __contains__(self, key: K) -> bool:
        return self.get(key) is not None

    def put(self, key: K, value: V) -> None:
        self._items[key] = (self._now() + self._ttl, value)
        self._items.move_to_end(key)
        while len(self._items) > self._max_items:
            self._items.popitem(last=False)

    def drop(self, key: K) -> None:
        self._items.pop(key, None)
