"""Shape of the code: no class in the GUI is longer than a newcomer reads in one sitting."""

import ast
from pathlib import Path

GUI = Path(__file__).resolve().parents[1] / "app" / "kintsugi" / "gui"
MAX_CLASS_LINES = 300


def _class_lengths() -> dict[str, int]:
    lengths = {}
    for path in sorted(GUI.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                assert node.end_lineno is not None
                lengths[f"{path.name}:{node.name}"] = node.end_lineno - node.lineno + 1
    return lengths


def test_no_gui_class_is_longer_than_a_sitting():
    lengths = _class_lengths()
    assert lengths  # the folder was found and read
    too_long = {name: n for name, n in lengths.items() if n > MAX_CLASS_LINES}
    assert not too_long, f"split these classes (over {MAX_CLASS_LINES} lines): {too_long}"
