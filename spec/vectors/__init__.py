"""The golden vectors: ``manifest.toml`` and the files it lists (made by ``make_vectors.py``)."""

import pathlib

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

VECTORS_DIR = pathlib.Path(__file__).resolve().parent
MANIFEST = VECTORS_DIR / "manifest.toml"


def load_manifest():
    """The parsed manifest: ``{"zstd_version": str, "vector": [entry, ...]}`` (entries as in manifest.toml)."""
    with open(MANIFEST, "rb") as f:
        return tomllib.load(f)


def vector_bytes(entry):
    """The bytes of the file a manifest entry names."""
    return (VECTORS_DIR / entry["file"]).read_bytes()
