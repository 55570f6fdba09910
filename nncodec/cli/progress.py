"""A one-line progress bar on stderr for long command-line work: tensors done and bytes processed."""

import sys
import threading
import time

__all__ = ["Progress"]

WIDTH = 24
REDRAW_SECONDS = 0.1
NAME_WIDTH = 30


def _tail(name):
    """``name`` in NAME_WIDTH characters: its end, where names differ (``...ure.ConvNet.3.weight``)."""
    return name if len(name) <= NAME_WIDTH else "\u2026" + name[-(NAME_WIDTH - 1):]


def _mib(n):
    return f"{n / 2**20:.1f}"


class Progress:
    """``advance(name, nbytes)`` after each item (thread-safe); ``close()`` ends the line.

    Draws only when enabled and the stream is a terminal, so pipes, files and ``--quiet``/``--json`` runs stay
    clean. Redraws at most every 0.1 s, and always for the last item. ``unit`` names the items; with
    ``total_bytes=None`` the bar counts items only (no MiB). Long names show their end, which tells items apart.
    """

    def __init__(self, label, items, total_bytes, enabled=True, stream=None, unit="tensors"):
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.label, self.items, self.total, self.unit = label, items, total_bytes, unit
        self.done_items = self.done_bytes = 0
        self._drawn = 0.0
        self._lock = threading.Lock()

    def advance(self, name, nbytes):
        with self._lock:
            self.done_items += 1
            self.done_bytes += nbytes
            now = time.monotonic()
            if self.enabled and (now - self._drawn >= REDRAW_SECONDS or self.done_items == self.items):
                self._drawn = now
                if self.total is None:
                    share, amount = (self.done_items / self.items if self.items else 1.0), ""
                else:
                    share = self.done_bytes / self.total if self.total else 1.0
                    amount = f", {_mib(self.done_bytes)}/{_mib(self.total)} MiB"
                bar = "#" * round(WIDTH * share)
                self.stream.write(f"\r{self.label} [{bar:<{WIDTH}}] {self.done_items}/{self.items} {self.unit}"
                                  f"{amount}  {_tail(name):<{NAME_WIDTH}}")
                self.stream.flush()

    def close(self):
        if self.enabled and self._drawn:
            self.stream.write("\n")
            self.stream.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
