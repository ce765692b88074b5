"""The package's layering, read from the source with ``ast`` (nothing is imported).

Rooms (the package's sub-packages and root modules) are stacked in layers; a room may import rooms
of lower layers only — never a peer of its own layer, never a higher one. Both module-level and
function-level imports count. Module-level imports also form no cycle between modules.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "streamdeblur"

#: lowest first; peers in one layer know nothing of each other
LAYERS: list[set[str]] = [
    {"errors", "weights"},  # weights: data only
    {"compute", "io", "models", "temporal"},  # tiling, models and fusion maths know nothing of video I/O; io nothing of models
    {"stages"},
    {"engine"},
    {"scaleout", "train"},
    {"bench"},
    {"api"},
    {"cli"},  # nothing below the commands imports the CLI
    {"(root)", "__main__"},
]
LAYER = {room: i for i, rooms in enumerate(LAYERS) for room in rooms}


def _module_name(path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    is_pkg = parts[-1] == "__init__"
    return ".".join(parts[:-1] if is_pkg else parts), is_pkg


def _room(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in ("__init__", "__version__"):
        return "(root)"
    return parts[1]


def _imports(path: Path) -> list[tuple[str, bool]]:
    """``(imported module, at module level)`` for every import of the package in ``path``."""
    name, is_pkg = _module_name(path)
    package = name if is_pkg else name.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text(), str(path))
    top = {id(n) for n in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
                targets = [mod] if node.module else [f"{mod}.{a.name}" for a in node.names]
            else:
                targets = [node.module] if node.module else []
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            continue
        found += [(t, id(node) in top) for t in targets if t == "streamdeblur" or t.startswith("streamdeblur.")]
    return found


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_room_has_a_layer():
    rooms = {_room(_module_name(p)[0]) for p in _modules()}
    assert rooms <= set(LAYER), f"rooms without a layer: {sorted(rooms - set(LAYER))}"


def test_no_room_imports_a_peer_or_a_higher_room():
    wrong = []
    for path in _modules():
        here = _room(_module_name(path)[0])
        for target, _ in _imports(path):
            there = _room(target)
            if there != here and LAYER[there] >= LAYER[here]:
                wrong.append(f"{path.relative_to(PACKAGE.parent)} ({here}) imports {target} ({there})")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycle_between_modules():
    known = {_module_name(p)[0] for p in _modules()}

    def resolve(target: str) -> str | None:  # "streamdeblur.io.sources.SourceError" → the module
        while target and target not in known:
            target = target.rpartition(".")[0]
        return target or None

    graph = {
        _module_name(p)[0]: {m for t, top in _imports(p) if top and (m := resolve(t)) and m != _module_name(p)[0]}
        for p in _modules()
    }
    # a package's __init__ importing its own modules is how a package is built, not a cycle
    graph = {m: {t for t in ts if not m.startswith(t + ".")} for m, ts in graph.items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for t in sorted(graph.get(m, ())):
            if state.get(t) == 1:
                cycles.append(" -> ".join(stack[stack.index(t) :] + [t]))
            elif t not in state:
                visit(t, stack + [t])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycles, "\n".join(cycles)


def test_the_rule_catches_a_violation(tmp_path, monkeypatch):
    """The check itself can fail: a model module that imports a source is reported."""
    fake = tmp_path / "streamdeblur"
    (fake / "models").mkdir(parents=True)
    (fake / "io").mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "io" / "__init__.py").write_text("")
    (fake / "models" / "__init__.py").write_text("")
    (fake / "models" / "bad.py").write_text("from ..io.sources import open_source\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    try:
        test_no_room_imports_a_peer_or_a_higher_room()
    except AssertionError as exc:
        assert "models/bad.py (models) imports streamdeblur.io.sources (io)" in str(exc)
    else:
        raise AssertionError("the layering check let models import io")


def test_the_package_root_holds_only_the_public_api_and_packages():
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    assert modules == {"__init__", "__main__", "api", "errors"}
    for room in (p for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"):
        assert (room / "__init__.py").exists(), f"{room.name}/ is not a package"
