"""``python -m nncodec``: the command-line interface (see nncodec.cli)."""

from .cli import main

raise SystemExit(main())
