"""The package's shape holds: no import circle, no CLI importing another CLI, generic layers that
never name a model, and state tensor names written only in the contract. Static (ast), so every
import counts, including those inside functions."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "autotune_keras"
GENERIC = ("autotune_keras.engine", "autotune_keras.export", "autotune_keras.evaluation", "autotune_keras.training",
           "autotune_keras.data", "autotune_keras.train", "autotune_keras.evaluate", "autotune_keras.benchmark",
           "autotune_keras.realtime")  # fmt: skip


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(name: str) -> set[str]:
    """Package modules ``name`` imports (``from a import b`` counts ``a.b`` when that is a module)."""
    tree = ast.parse(MODULES[name].read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: imports_of(name) for name in MODULES}


def cycle() -> list[str] | None:
    """One import circle, or None (depth-first search with colours)."""
    colour = dict.fromkeys(GRAPH, 0)
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = 1
        stack.append(node)
        for nxt in sorted(GRAPH[node]):
            if colour[nxt] == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if colour[nxt] == 0 and (found := visit(nxt)):
                return found
        stack.pop()
        colour[node] = 2
        return None

    for node in sorted(GRAPH):
        if colour[node] == 0 and (found := visit(node)):
            return found
    return None


def test_no_import_circle():
    # a package imports its own submodules through ``from pkg import sub``; parents are not edges
    for name in GRAPH:
        GRAPH[name] = {m for m in GRAPH[name] if not name.startswith(m + ".")}
    assert cycle() is None, " -> ".join(cycle() or [])


def cli_modules() -> set[str]:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    return {target.split(":")[0] for target in scripts.values()}


def test_every_cli_is_a_console_script_and_imports_no_other_cli():
    clis = cli_modules()
    assert {"autotune_keras.dataset", "autotune_keras.train", "autotune_keras.export.__main__", "autotune_keras.detect",
            "autotune_keras.correct", "autotune_keras.evaluate", "autotune_keras.realtime",
            "autotune_keras.benchmark"} <= clis  # fmt: skip
    for cli in clis:
        others = GRAPH[cli] & (clis - {cli})
        assert not others, f"{cli} imports the CLI module(s) {sorted(others)}"
    for name, imported in GRAPH.items():  # nor does any library module
        if name not in clis:
            assert not imported & clis, f"{name} imports the CLI module(s) {sorted(imported & clis)}"


def test_generic_layers_never_import_a_model_package():
    for name, imported in GRAPH.items():
        if name.startswith(GENERIC):
            named = {m for m in imported if m.startswith("autotune_keras.models.") and m != "autotune_keras.models.base"}
            assert not named, f"{name} imports {sorted(named)}; look models up in the registry"


def test_state_tensor_names_are_written_only_in_the_contract():
    names = {"audio_state", "octave_state", "read_offset", "log2_ratio", "audio_state_out", "octave_state_out", "read_offset_out", "log2_ratio_out", "_out"}
    for name, path in MODULES.items():
        if name == "autotune_keras.contract":
            continue
        literals = {n.value for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Constant)}
        assert not literals & names, f"{name} writes {sorted(literals & names)}; use contract.py"
