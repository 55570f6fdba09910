"""For the peer scripts, which run in NNCodec's own venv: keep our package (also called ``nncodec``) out of the way.

``hide_our_nncodec()`` drops the repository and any non-site-packages directory holding an ``nncodec`` package from
``sys.path``; ``check_peer(module, attribute, script)`` exits when the imported ``nncodec`` is not the peer's.
"""

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def hide_our_nncodec():
    keep = []
    for entry in sys.path:
        path = os.path.abspath(entry or os.getcwd())
        ours = path == REPO or (os.path.isfile(os.path.join(path, "nncodec", "__init__.py"))
                                and "site-packages" not in path)
        if not ours:
            keep.append(entry)
    sys.path[:] = keep


def check_peer(module, attribute, script):
    import nncodec
    if not hasattr(module, attribute) or "site-packages" not in (nncodec.__file__ or ""):
        sys.exit(f"{script}: imported nncodec from {nncodec.__file__}, which is not the peer package")
