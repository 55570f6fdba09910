"""Reading containers (spec 3.2 to 3.9 and 8): ``directory`` parses and checks the directory, ``container``
plans each call against its budgets and decodes tensors through the stages, ``summary`` describes a directory
(what ``nncodec info`` prints) without decoding anything.

May import: ``format``, ``kernels``, ``stages``, ``sparse`` and ``nncodec.errors``; never the encoder, the
runtime or the tools.
"""
