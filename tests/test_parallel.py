"""Thread-pool encode/decode: the bytes and arrays never depend on ``jobs``; errors surface in order."""

import numpy as np
import pytest

import nncodec
from nncodec.kernels import parallel
from tests.checkers import assert_same_array


def _weights():
    rng = np.random.default_rng(5)
    return {f"layer{i}.weight": rng.standard_normal((64, 48)).astype(np.float32) for i in range(6)}


@pytest.mark.parametrize("options", [{"compress": "auto"}, {"quantize": "dq:sqnr=30,axis=0", "entropy": "cabac"},
                                     {"compress": "zstd", "chunk_elements": 500}])
def test_bytes_and_arrays_do_not_depend_on_jobs(backend, options):
    weights = _weights()
    blobs = [nncodec.encode(weights, backend=backend, jobs=jobs, **options) for jobs in (1, 2, 4)]
    assert blobs[0] == blobs[1] == blobs[2]
    serial = nncodec.decode(blobs[0], backend=backend, jobs=1)
    for jobs in (2, 3):
        decoded = nncodec.decode(blobs[0], backend=backend, jobs=jobs)
        assert list(decoded) == list(serial)
        for name in serial:
            assert_same_array(serial[name], decoded[name])


def test_first_error_in_order_is_raised():
    def fail_on_odd(x):
        if x % 2:
            raise KeyError(x)
        return x

    with pytest.raises(KeyError, match="1"):
        parallel.map_ordered(fail_on_odd, range(8), jobs=4)
    assert parallel.map_ordered(lambda x: x * x, range(5), jobs=3) == [0, 1, 4, 9, 16]
    assert parallel.map_ordered(lambda x: x * x, range(5), jobs=2, cost=lambda x: x % 3) == [0, 1, 4, 9, 16]


def test_imap_ordered_yields_in_order_within_its_window():
    import threading
    import time
    lock, state = threading.Lock(), {"started": 0, "most_ahead": 0}
    consumed = []

    def work(x):
        with lock:
            state["started"] += 1
            state["most_ahead"] = max(state["most_ahead"], state["started"] - len(consumed))
        time.sleep(0.002 * (x % 3))  # out-of-order completion
        return x * x

    for value in parallel.imap_ordered(work, range(20), jobs=2, window=3):
        consumed.append(value)
    assert consumed == [x * x for x in range(20)]
    assert state["most_ahead"] <= 3 + 1  # the window, and the one submitted as a result is handed over
    with pytest.raises(KeyError, match="1"):
        list(parallel.imap_ordered(lambda x: {}[x] if x % 2 else x, range(8), jobs=2))
    assert list(parallel.imap_ordered(lambda _: parallel.inner_threads_allowed(), range(3), jobs=1)) == [False] * 3
    assert parallel.inner_threads_allowed()


def test_serial_run_forbids_inner_threads():
    seen = parallel.map_ordered(lambda _: parallel.inner_threads_allowed(), range(3), jobs=1)
    assert seen == [False, False, False]
    assert parallel.inner_threads_allowed()


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2"])
def test_bad_jobs_refused(bad):
    with pytest.raises(ValueError):
        parallel.resolve_jobs(bad)
