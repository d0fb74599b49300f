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


def _cycles(graph) -> list[tuple[str, str]]:
    """Every import that closes a loop: (module, a module it imports that leads back to it)."""
    return sorted((module, imported) for module in graph.modules
                  for imported in graph.find_modules_directly_imported_by(module)
                  if graph.chain_exists(importer=imported, imported=module))


def test_no_import_cycles_in_the_package():
    """Modules that import each other cannot be read, tested or moved one at a time. Imports
    under TYPE_CHECKING never run (the facade's names for mypy), so they do not count."""
    grimp = pytest.importorskip("grimp")  # installed with import-linter
    graph = grimp.build_graph("kintsugi", exclude_type_checking_imports=True, cache_dir=None)
    assert _cycles(graph) == []
