"""Writing containers: ``tensor`` turns one array and its options (lossy plan, codings, layout, factors) into a
node tree with pending streams, ``model`` encodes a whole model (``preset=`` resolved from ``nncodec.presets``),
``writer`` streams tensors into a file, ``atomic`` writes files atomically, ``layout_choice`` and ``option_names``
parse the options, ``rd`` sweeps rate against distortion.

The quantizers, pruners and factorisations it drives live beside it in ``nncodec.quant``, ``nncodec.lowrank`` and
``nncodec.train`` (public packages of their own). May import those, ``format``, ``kernels``, ``stages``,
``sparse``, ``decoder`` (to write and re-open containers), ``presets`` (tables of encode keywords) and
``nncodec.errors``.
"""
