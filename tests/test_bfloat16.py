"""bfloat16 without ml_dtypes: data travels as uint16 bit patterns, and composites still compute in bfloat16."""

import json
import pathlib
import subprocess
import sys
import textwrap

import nncodec

ROOT = pathlib.Path(__file__).resolve().parents[1]
VECTOR = next((ROOT / "spec" / "vectors" / "valid").glob("032-*.nnc"))


def test_bfloat16_sum_vector_decodes_identically_without_ml_dtypes():
    script = textwrap.dedent(f"""
        import json, sys
        sys.modules["ml_dtypes"] = None          # make `import ml_dtypes` fail
        import numpy as np
        import nncodec
        decoded = nncodec.decode(open({str(VECTOR)!r}, "rb").read())
        assert all(a.dtype == np.uint16 for a in decoded.values())
        print(json.dumps({{k: a.tobytes().hex() for k, a in decoded.items()}}))
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    with_ml_dtypes = {k: a.tobytes().hex() for k, a in nncodec.decode(VECTOR.read_bytes()).items()}
    assert json.loads(result.stdout) == with_ml_dtypes
