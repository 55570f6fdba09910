"""The ``nncodec`` command line (docs/cli.md): ``commands`` parses and runs the verbs, ``progress`` draws the bars,
``demo`` builds the built-in example model. Sits on top: may import anything in nncodec.
"""

from .commands import main

__all__ = ["main"]
