"""Bounded pools of staging buffers, reused across messages and released at finalize.

Allocating pinned host memory costs milliseconds and device memory synchronises, so
buffers are kept by power-of-two size class; at most ``limit_b`` bytes stay cached. The
interposer serves every thread of an MPI_THREAD_MULTIPLE program: a lock guards the lists.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable

from tempi.pack.buffers import Buffer


def size_class(nbytes: int) -> int:
    return 1 << max(nbytes - 1, 0).bit_length()


class BufferPool:
    """Buffers of at least the asked size, from ``allocate``; returned with :meth:`put`."""

    def __init__(
        self, allocate: Callable[[int], Buffer], free: Callable[[Buffer], None], limit_b: int
    ):
        self._allocate, self._free, self.limit_b = allocate, free, limit_b
        self._idle: dict[int, list[Buffer]] = defaultdict(list)
        self._lock = threading.Lock()
        self.cached_b = 0

    def get(self, nbytes: int) -> Buffer:
        size = size_class(nbytes)
        with self._lock:
            idle = self._idle[size]
            if idle:
                self.cached_b -= size
                return idle.pop()
        return self._allocate(size)

    def put(self, buf: Buffer) -> None:
        with self._lock:
            keep = self.cached_b + buf.nbytes <= self.limit_b
            if keep:
                self._idle[buf.nbytes].append(buf)
                self.cached_b += buf.nbytes
        if not keep:
            self._free(buf)

    def release(self) -> None:
        """Free every cached buffer."""
        with self._lock:
            idle = [buf for bufs in self._idle.values() for buf in bufs]
            self._idle.clear()
            self.cached_b = 0
        for buf in idle:
            self._free(buf)
