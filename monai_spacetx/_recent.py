"""The values of the most recently asked-for keys: the one cache policy of the package.

A training loop or a per-case pipeline asks for the same few grids, plans and kernel arguments again
and again; each is made once while it is recent. Values handed out again are shared between callers,
so they must be immutable or only read (read-only numpy arrays, tuples, :class:`~.Space`).
Standard library only: the geometry, the engine and the transforms all use it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, Generic, Hashable, Iterator, Optional, TypeVar

__all__ = ["RecentValues"]

V = TypeVar("V")
_MISSING = object()


class RecentValues(Generic[V]):
    """The values made for the last ``size`` distinct keys (least recently asked-for dropped first).

    Safe to share between threads: two threads asking for a missing key at once may both make it
    (making never holds the lock), and the last one made is kept.

    >>> made = []
    >>> cache = RecentValues(2)
    >>> [cache.get(k, lambda k=k: made.append(k) or k * 10) for k in (1, 2, 1, 3, 2)]
    [10, 20, 10, 30, 20]
    >>> made  # 2 was dropped when 3 came (1 had been asked for since), then made again
    [1, 2, 3, 2]
    >>> list(cache)
    [3, 2]
    >>> cache.get(None, lambda: 5), len(cache)  # no key: made every time, never kept
    (5, 2)
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._values: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Optional[Hashable], make: Callable[[], V]) -> V:
        """The value kept for ``key``, else ``make()`` (kept from now on); ``key=None``: ``make()``, not kept."""
        if key is None:
            return make()
        with self._lock:
            value = self._values.get(key, _MISSING)
            if value is not _MISSING:
                self._values.move_to_end(key)
                return value  # type: ignore[return-value]
        value = make()
        with self._lock:
            self._values[key] = value
            while len(self._values) > self.size:
                self._values.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Iterator[Hashable]:
        """The keys kept, least recently asked-for first."""
        with self._lock:
            return iter(list(self._values))
