"""Structural minimiser for the adversary's findings: drops tensors, metadata, composite children and stages while
the finding stays, re-sealing every candidate.

    python -m fuzz.adversary_min fuzz/findings/crash/<sha1>.nnc -o fuzz/extremes/crash-cer-column.nnc \\
        --kind crash --point decode --timeout 5

A candidate keeps the finding when ``adversary.check`` reports one of the same kind (and entry point, if given).
Containers inside a host file (trailer) are left as they are.
"""

import argparse
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import adversary  # noqa: E402
from adversary_gen import _container  # noqa: E402
from crafting import reseal  # noqa: E402
from nncodec.format.assemble import PendingStream  # noqa: E402
from nncodec.format.header import HEADER_SIZE  # noqa: E402
from nncodec.format.limits import LIMIT_CEILING, DecodeLimits  # noqa: E402
from nncodec.format.records import Chain, Composite, Node, TensorRecord, iter_streams  # noqa: E402
from nncodec.kernels.reference.directory import parse_directory  # noqa: E402

LENIENT = DecodeLimits(**{name: LIMIT_CEILING for name in DecodeLimits.__dataclass_fields__
                          if name not in ("max_expansion", "expansion_slack")})


def parse(blob):
    """(records, metadata, {stream id: stored bytes}) or None when the directory does not parse."""
    if len(blob) < HEADER_SIZE:
        return None
    length = int.from_bytes(blob[12:16], "little")
    try:
        directory, _ = parse_directory(blob[HEADER_SIZE:HEADER_SIZE + length], HEADER_SIZE + length, len(blob),
                                       LENIENT)
    except ValueError:
        return None
    data = {id(s): bytes(blob[s.offset:s.offset + s.length]) for r in directory.tensors for s in iter_streams(r.node)}
    return list(directory.tensors), list(directory.metadata), data


def build(records, metadata, data):
    pending = [PendingStream(s.coding, s.elem_type, s.align_log2, s.count, data[id(s)])
               for r in records for s in iter_streams(r.node)]
    return reseal(_container(records, pending, metadata))


def _node_edits(node):
    """Smaller versions of ``node``: one child instead of the composite, fewer children, fewer stages."""
    body = node.body
    if isinstance(body, Composite):
        children = body.children
        for child in children[:2]:
            yield child
        if len(children) > 2:
            yield Node(node.dtype, node.shape, Composite(body.combine, children[:len(children) // 2]))
            yield Node(node.dtype, node.shape, Composite(body.combine, children[:2]))
        for k, child in enumerate(children[:4]):
            for smaller in _node_edits(child):
                yield Node(node.dtype, node.shape, Composite(body.combine, children[:k] + (smaller,) + children[k + 1:]))
    elif isinstance(body, Chain) and len(body.stages) > 1:
        for j in range(1, len(body.stages)):
            yield Node(node.dtype, node.shape, Chain(body.streams, body.stages[:j] + body.stages[j + 1:]))


def candidates(records, metadata):
    for i in range(len(metadata)):
        yield records, metadata[:i] + metadata[i + 1:]
    if len(records) > 2:
        yield records[:len(records) // 2], metadata
    for i in range(len(records)):
        if len(records) > 1:
            yield records[:i] + records[i + 1:], metadata
        for smaller in _node_edits(records[i].node):
            yield records[:i] + [TensorRecord(records[i].name, smaller)] + records[i + 1:], metadata


def minimise(blob, keeps, log=print):
    """The smallest container found (greedy, first improvement) for which ``keeps(blob)`` holds."""
    parsed = parse(blob)
    if parsed is None:
        return blob
    records, metadata, data = parsed
    improved = True
    while improved:
        improved = False
        for cand_records, cand_metadata in candidates(records, metadata):
            candidate = build(cand_records, cand_metadata, data)
            if len(candidate) < len(blob) and keeps(candidate):
                log(f"  {len(blob)} -> {len(candidate)} bytes")
                blob, records, metadata, improved = candidate, cand_records, cand_metadata, True
                break
    return blob


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("input")
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--kind", required=True, help="finding kind to keep (crash, hang, escape, memory, ...)")
    parser.add_argument("--point", help="entry point the finding must stay on")
    parser.add_argument("--contains", default="", help="text the finding's description must contain")
    parser.add_argument("--timeout", type=float, default=5.0)
    args = parser.parse_args(argv)

    def keeps(candidate):
        return any(kind == args.kind and (args.point is None or point == args.point) and args.contains in what
                   for kind, point, _, what in adversary.check(candidate, timeout=args.timeout))

    blob = pathlib.Path(args.input).read_bytes()
    if not keeps(blob):
        print("the input does not show the finding", file=sys.stderr)
        return 1
    small = minimise(blob, keeps)
    pathlib.Path(args.output).write_bytes(small)
    print(f"{args.input}: {len(blob)} -> {len(small)} bytes, written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
