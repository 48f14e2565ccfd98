"""A small in-process cache of rendered thread pages, keyed by their ETag.

The ETag names the thread's revision, which every visible change bumps in the database, so a
cached page can never be stale: a changed thread has a new key, and the old entry simply ages
out. Each process keeps its own cache; all of them read the revision from the database.
"""

from __future__ import annotations

import threading
from collections import OrderedDict


class PageCache:
    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            body = self._entries.get(key)
            if body is not None:
                self._entries.move_to_end(key)
            return body

    def put(self, key: str, body: bytes) -> None:
        if len(body) > self.max_bytes // 4:
            return  # one huge page must not evict everything else
        with self._lock:
            if key in self._entries:
                return
            self._entries[key] = body
            self._size += len(body)
            while self._size > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._size -= len(evicted)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._size = 0
