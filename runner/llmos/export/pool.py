"""An order-preserving parallel map with a bounded number of tasks in flight.

``concurrent.futures``' own ``map`` submits every task at once, which would read a whole input
into memory; :func:`ordered_map` submits a task only when fewer than ``window`` are pending, and
yields the results in input order. With one worker it is a plain ``map`` in this process.

Workers are forked where the platform allows it and this process runs a single thread (a fork
inherits the modules already imported, so a worker starts in milliseconds); otherwise the
platform's default start method is used.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TypeVar

__all__ = ["default_workers", "ordered_map"]

T = TypeVar("T")
R = TypeVar("R")


def default_workers(limit: int = 4) -> int:
    """The CPUs this process may use, at most ``limit``."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(limit, cpus))


def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int, window: int | None = None) -> Iterator[R]:
    """``fn`` applied to each item, in order, by ``workers`` processes (``fn`` and items must pickle).

    Args:
        fn: A module-level function (or a ``functools.partial`` of one).
        items: The inputs, consumed lazily.
        workers: Worker processes; 1 or less runs everything in this process.
        window: Tasks in flight at most (default: twice the workers).

    Raises:
        Exception: Whatever ``fn`` raised, when its result is reached.
    """
    if workers <= 1:
        yield from map(fn, items)
        return
    context = None
    if "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1:
        context = multiprocessing.get_context("fork")
    limit = window or 2 * workers
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending: deque[Future[R]] = deque()
        try:
            for item in items:
                pending.append(pool.submit(fn, item))
                if len(pending) >= limit:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
