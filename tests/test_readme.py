"""The README's Python examples run as written (so the documentation cannot drift from the API)."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_readme_python_blocks_run(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert len(blocks) >= 2
    monkeypatch.chdir(tmp_path)  # the examples write model.nnc
    namespace = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - our own documentation
    assert (tmp_path / "model.nnc").exists()
    assert namespace["rows"] and {"config", "bytes", "sqnr_db"} <= set(namespace["rows"][0])
