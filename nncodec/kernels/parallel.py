"""The one place where nncodec runs work on threads: independent tensors (and chunks of one tensor).

The Cython coders release the GIL, so a thread pool gives real parallelism. ``jobs`` is the number of threads
work may use: ``None`` means every core, 1 means strictly serial (the CABAC coder's own segment threads are then
switched off too, so a 1-job run uses one core).
"""

import collections
import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

__all__ = ["resolve_jobs", "map_ordered", "imap_ordered", "inner_threads_allowed"]

_local = threading.local()


def resolve_jobs(jobs):
    """The thread count ``jobs`` asks for: ``None`` or 0 gives every core; negative values are refused."""
    if jobs is None or jobs == 0:
        return os.cpu_count() or 1
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 0:
        raise ValueError(f"jobs must be a non-negative int or None, got {jobs!r}")
    return jobs


def inner_threads_allowed():
    """False while the calling thread runs a ``jobs=1`` (serial) job: coders must not start threads of their own."""
    return not getattr(_local, "serial", False)


def _mark_worker():
    _local.worker = True


def map_ordered(function, items, jobs=None, cost=None):
    """``[function(item) for item in items]``, on up to ``jobs`` threads; the first exception (in item order) is
    re-raised. ``cost(item)``, if given, estimates an item's work: the costliest start first (balances the threads).

    Nested calls (from a worker of an outer ``map_ordered``) run serially in that worker, so pools never wait on
    themselves and the thread count stays at ``jobs``.
    """
    items = list(items)
    jobs = resolve_jobs(jobs)
    if _runs_serially(jobs, items):
        return [_serial_call(function, item, jobs) for item in items]
    with ThreadPoolExecutor(max_workers=min(jobs, len(items)), thread_name_prefix="nncodec",
                            initializer=_mark_worker) as pool:
        order = sorted(range(len(items)), key=lambda i: -cost(items[i])) if cost else range(len(items))
        futures = [None] * len(items)
        for i in order:
            futures[i] = pool.submit(function, items[i])
        try:
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def imap_ordered(function, items, jobs=None, window=None):
    """``function(item)`` for each item, yielded in item order as each is ready, on up to ``jobs`` threads with at
    most ``window`` (default ``2 * jobs``) items started and not yet yielded: a consumer that stores and drops each
    result keeps memory bounded by the window, not by the number of items. Serial where :func:`map_ordered` is."""
    items = list(items)
    jobs = resolve_jobs(jobs)
    if _runs_serially(jobs, items):
        for item in items:
            yield _serial_call(function, item, jobs)
        return
    with ThreadPoolExecutor(max_workers=min(jobs, len(items)), thread_name_prefix="nncodec",
                            initializer=_mark_worker) as pool:
        rest = iter(items)
        futures = collections.deque(pool.submit(function, item) for item in itertools.islice(rest, window or 2 * jobs))
        try:
            while futures:
                result = futures.popleft().result()
                futures.extend(pool.submit(function, item) for item in itertools.islice(rest, 1))
                yield result
        finally:
            for future in futures:
                future.cancel()


def _runs_serially(jobs, items):
    """Serial: one job, one item, or inside a worker of an outer pool (pools never wait on themselves)."""
    return jobs == 1 or getattr(_local, "worker", False) or len(items) <= 1


def _serial_call(function, item, jobs):
    """``function(item)`` in the calling thread; a ``jobs=1`` run forbids the coders' own threads meanwhile."""
    saved = getattr(_local, "serial", False)
    _local.serial = saved or jobs == 1
    try:
        return function(item)
    finally:
        _local.serial = saved
