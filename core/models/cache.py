"""A process-level cache of loaded networks, so that a long-lived process (`candlecast serve`,
or one run that asks for the same model twice) loads and traces each registered model once.

Keyed by the model file's path *and* its SHA-256 (the registry's `file_sha256`): a file
rewritten under the same name is a new key, so a stale model is never served. Bounded: the
least recently used entry is dropped past `capacity` (`CANDLECAST_MODEL_CACHE`, default 512
models, grown to hold every network of the run at hand: `reserve`; 0 turns the cache off). A
cached network keeps its traced inference graph (`NetworkForecaster._call`), which is what
makes the second run in a served process cheap.

A cached object is shared: callers that change it (a warm start trains the loaded weights
further) must load their own copy instead (`load=` without the cache).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

DEFAULT_CAPACITY = 512
ENV = "CANDLECAST_MODEL_CACHE"


def capacity_from_env() -> int | None:
    """`CANDLECAST_MODEL_CACHE` as a number of models (0 = off); None where it is not set."""
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        return DEFAULT_CAPACITY
    return max(value, 0)


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    evictions: int = 0


class ModelCache:
    """Least-recently-used `(path, checksum) -> loaded model`, safe to share between threads."""

    def __init__(self, capacity: int | None = None) -> None:
        configured = capacity_from_env() if capacity is None else capacity
        # a capacity set here or in CANDLECAST_MODEL_CACHE is kept as it is; the default grows
        self.fixed = configured is not None
        self.capacity = DEFAULT_CAPACITY if configured is None else configured
        self.stats = CacheStats()
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, path: str, checksum: str, load: Callable[[], Any]) -> Any:
        """The model cached under `(path, checksum)`, or `load()`'s, cached."""
        key = (str(path), checksum)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.stats.hits += 1
                return self._items[key]
            self.stats.misses += 1
        model = load()  # outside the lock: loads of different models run in parallel
        if self.capacity <= 0:
            return model
        with self._lock:
            model = self._items.setdefault(key, model)  # a concurrent load of the same key won
            self._items.move_to_end(key)
            # an older checksum of the same file can never be asked for again
            for stale in [k for k in self._items if k[0] == key[0] and k != key]:
                del self._items[stale]
                self.stats.evictions += 1
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
                self.stats.evictions += 1
        return model

    def reserve(self, models: int) -> None:
        """Room for at least `models` (every network one run asks for), unless the capacity
        was set. A run cycles through its networks in the same order every time, so a cache
        smaller than the cycle would drop each model just before its next use and never hit."""
        with self._lock:
            if not self.fixed:
                self.capacity = max(self.capacity, int(models))

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.stats = CacheStats()


MODELS = ModelCache()
"""The process's cache of registered networks (single-series and global)."""
