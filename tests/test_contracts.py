"""Architecture contracts: the engine never imports Qt; `import kintsugi` stays light."""

import subprocess
import sys

import pytest

ENGINE_MODULES = [
    "kintsugi.engine.pipeline", "kintsugi.engine.batch", "kintsugi.engine.registry",
    "kintsugi.engine.imageio", "kintsugi.engine.faces", "kintsugi.convert.reproduce",
    "kintsugi.archs", "kintsugi.train.loop",
]


def _loaded_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_engine_imports_no_qt():
    loaded = _loaded_after("\n".join(f"import {m}" for m in ENGINE_MODULES))
    assert not {m for m in loaded if m.startswith(("PySide6", "shiboken6", "kintsugi.gui"))}


def test_import_kintsugi_does_not_load_torch():
    loaded = _loaded_after("import kintsugi; kintsugi.__version__")
    assert "torch" not in loaded


def test_listing_models_does_not_load_torch():
    loaded = _loaded_after("import kintsugi; kintsugi.list_models(); kintsugi.default_model_id()")
    assert "torch" not in loaded


def _cycles(graph) -> list[list[str]]:
    """Groups of modules that import each other, directly or round a loop (Tarjan's strongly
    connected components, iterative: the graph is deep)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        while work:
            module, todo = work[-1]
            step = next(todo, None)
            if step is not None:
                if step not in index:
                    index[step] = low[step] = len(index)
                    stack.append(step)
                    work.append((step, iter(sorted(graph.find_modules_directly_imported_by(step)))))
                elif step in stack:
                    low[module] = min(low[module], index[step])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[module])
            if low[module] == index[module]:
                group = stack[stack.index(module):]
                del stack[stack.index(module):]
                if len(group) > 1:
                    found.append(sorted(group))
    return found


def test_no_import_cycles_in_the_package():
    """Modules that import each other cannot be read, tested or moved one at a time. Imports
    under TYPE_CHECKING never run (the facade's names for mypy), so they do not count."""
    grimp = pytest.importorskip("grimp")  # installed with import-linter
    graph = grimp.build_graph("kintsugi", exclude_type_checking_imports=True, cache_dir=None)
    assert _cycles(graph) == []
