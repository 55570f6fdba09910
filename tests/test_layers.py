"""The package layers of README's "Layout of the code": no module imports a package of a higher layer, and the
packages' import graph has no circle. Every import counts, including those inside functions."""

import ast
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "nncodec"

# layer of each top-level module or package of nncodec, bottom first; a module may import its own package and
# packages of its layer or below (tools share the top layer)
LAYERS = [
    ["errors"],
    ["format"],
    ["kernels", "bundle"],
    ["sparse"],
    ["stages"],
    ["decoder", "quant"],
    ["lowrank"],
    ["presets"],
    ["encoder"],
    ["api"],
    ["runtime", "train"],
    ["io", "torch", "examples", "cli", "__main__", "__init__"],
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def _modules():
    for path in sorted(ROOT.rglob("*.py")) + sorted(ROOT.rglob("*.pyx")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        yield path, parts


def _imports(path, parts):
    """Top-level nncodec names (``format``, ``api``, ...) that the module at ``path`` imports."""
    package = list(parts[:-1])
    text = path.read_text()
    if path.suffix == ".pyx":  # Cython: relative imports only, found by their text
        nodes = [(len(dots), module) for dots, module in re.findall(r"^\s*from (\.+)([\w.]*) c?import", text, re.M)]
    else:
        nodes = []
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    nodes.append((node.level, node.module or "") if node.module else
                                 (node.level, None, [a.name for a in node.names]))
                elif node.module and node.module.split(".")[0] == "nncodec":
                    nodes.append((1 + len(package), node.module.partition(".")[2] or None,
                                  [a.name for a in node.names]))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "nncodec" and "." in alias.name:
                        nodes.append((1 + len(package), alias.name.partition(".")[2]))
    found = set()
    for item in nodes:
        level, module = item[0], item[1]
        base = package[:len(package) - (level - 1)]
        if module:
            target = base + module.split(".")
        else:  # from <package> import names: each name may be a module
            target = base + [None]
        if target and target[0] is not None:
            found.add(target[0])
        else:
            found.update(item[2] if len(item) > 2 else [])
    return found


def _graph():
    graph = {}
    for path, parts in _modules():
        top = parts[0]
        graph.setdefault(top, set()).update(t for t in _imports(path, parts) if t != top and t in RANK)
    return graph


def test_every_package_has_a_layer():
    tops = {parts[0] for _, parts in _modules()}
    assert tops <= set(RANK), f"add to LAYERS: {sorted(tops - set(RANK))}"


@pytest.mark.parametrize("path,parts", list(_modules()), ids=lambda v: "/".join(v) if isinstance(v, tuple) else "")
def test_no_upward_import(path, parts):
    top = parts[0]
    upward = sorted(t for t in _imports(path, parts) if t in RANK and RANK[t] > RANK[top])
    assert not upward, f"{'/'.join(parts)} (layer {RANK[top]}) imports {upward} from a higher layer"


def test_packages_form_no_circle():
    graph = _graph()
    state = {}

    def visit(node, trail):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                raise AssertionError("import circle: " + " -> ".join(trail[trail.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
