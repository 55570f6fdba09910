#!/usr/bin/env python3
"""Fuzz target: finding a container inside a host file (spec 3.9, nncodec/bundle.py ``locate``): the trailer
path, and an explicit offset.

    python fuzz/fuzz_trailer.py -max_total_time=60 -artifact_prefix=fuzz/crashes/ /tmp/trailer fuzz/corpus/trailer

Input: byte 0 picks an offset (``byte`` modulo the size of the rest plus one; 255 means no offset), the rest is
the host file. A bug is any exception other than a DecodeError from ``locate``, a located span that is not a
part of the input, or a decode of the host (through ``nncodec.decode`` and ``nncodec.open``, which locate the
container themselves) on which the backends disagree or that lets another exception escape.
"""

from _harness import BACKENDS, ROOT, _guard, fuzz, outcome

from nncodec.bundle import locate, trailer


def _span(host, offset):
    view = locate(host, offset)
    if len(view) > len(host) - (offset or 0) or bytes(view) not in host[offset or 0:]:
        raise AssertionError(f"located {len(view)} bytes that are not a part of the {len(host)}-byte input "
                             f"after offset {offset}")
    return len(view)


def TestOneInput(data):
    data = bytes(data)
    if not data:
        return
    host = data[1:]
    offset = None if data[0] == 255 else data[0] % (len(host) + 1)
    _guard("bundle", f"locate(offset={offset})", lambda: _span(host, offset))
    results = [outcome(host, backend) for backend in BACKENDS]
    if any(r != results[0] for r in results):
        raise AssertionError(f"backends disagree on the host {host[:64].hex()}")


def seeds():
    """Containers appended to host bytes with their trailer (and the spec's vector 039), with and without an
    offset; a trailer pointing at zero bytes."""
    single = (ROOT / "fuzz" / "corpus" / "decode" / "seed-single-int8.nnc").read_bytes()
    appended = (ROOT / "spec" / "vectors" / "valid" / "039-appended-trailer.nnc").read_bytes()
    host = b"host file bytes " * 4
    return [b"\xff" + host + single + trailer(len(single)), bytes((len(host),)) + host + single + trailer(len(single)),
            b"\xff" + appended, b"\xff" + trailer(0)]


if __name__ == "__main__":
    fuzz(TestOneInput, seeds)
