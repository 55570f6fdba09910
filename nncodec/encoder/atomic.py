"""Writing a file atomically: the bytes go to a temporary file beside the target, renamed over it at the end, so a
failed or interrupted write leaves the target as it was and no temporary file behind."""

import contextlib
import os
import secrets

__all__ = ["atomic_file", "about_path"]


def about_path(exc, path):
    """``exc`` (an OSError about the temporary file or the rename) as the same error about ``path``: the user
    never sees the temporary name."""
    return type(exc)(exc.errno, exc.strerror, os.fspath(path)) if exc.errno is not None else exc


@contextlib.contextmanager
def atomic_file(path):
    """A binary file, opened for writing and reading (``.name`` is its temporary path), that replaces ``path``
    when the block ends without an error. OSErrors name ``path``."""
    tmp = os.path.join(os.path.dirname(os.path.abspath(path)), f".nncodec-{secrets.token_hex(8)}.tmp")
    try:
        f = open(tmp, "x+b")  # exclusive; permissions as any new file's (0o666 less the umask), unlike mkstemp's
    except OSError as exc:
        raise about_path(exc, path) from None
    try:
        with f:
            yield f
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise about_path(exc, path) from None
        raise
