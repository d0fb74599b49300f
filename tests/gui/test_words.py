"""The window's words: plain, and one name per model (measurements belong in the README)."""

from __future__ import annotations

import re

import pytest

import kintsugi
from kintsugi.engine.alt_session import Setting, mix_note, pair_for
from kintsugi.gui.alt_panel import alternative_label, alternative_tip
from kintsugi.gui.restore_panel import RestorePanel

pytestmark = pytest.mark.gui

JARGON = re.compile(r"\bdB\b|PSNR|bench/|bicubic|patches")


def test_model_descriptions_are_plain_words_naming_models_by_name() -> None:
    models = kintsugi.list_models()
    ids = {m.id for m in models}
    for model in models:
        assert not JARGON.search(model.purpose), (model.id, model.purpose)
        named_by_id = [i for i in ids if re.search(rf"(?<![\w-]){re.escape(i)}(?![\w-])",
                                                   model.purpose)]
        assert not named_by_id, (model.id, named_by_id)


def test_the_readme_keeps_the_figures() -> None:
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    assert "bench/bench_models.py" in readme and "25.34" in readme


def test_the_mix_lines_name_models_as_the_model_list_does() -> None:
    names = {m.id: m.name for m in kintsugi.list_models()}
    pair, note = pair_for("realesrgan-x4plus", 4, names)
    assert pair == ("rrdn-x4", "realesrgan-x4plus") and note == ""
    line = mix_note(pair, names, complete=True)
    assert line == "Mix: ESRGAN thick (idealo RRDN) x4 (faithful) ↔ Real-ESRGAN x4plus (realistic)"
    _, refusal = pair_for("waifu2x-photo-x2", 2, names)
    _, other = pair_for("realsr-df2k-x4", 4, names)
    for text in (refusal, other):
        assert "rrdn-x4" not in text and "ESRGAN thick (idealo RRDN) x4" in text
    assert "rrdn" not in Setting(1.0, 0.25).caption(paired=True)


def test_strip_labels_say_which_slider_each_number_is() -> None:
    assert alternative_label(1.0, 0.25) == "Mix 0.25"
    assert alternative_label(0.5, 0.5) == "Mix 0.50\nDetail 0.5"
    assert alternative_label(1.5, None) == "Detail 1.5"
    assert "Detail 0.50" in alternative_tip(0.5, 0.5) and "realistic" in alternative_tip(0.5, 0.5)


def test_faces_found_says_where_their_numbers_are(qtbot) -> None:  # type: ignore[no-untyped-def]
    panel = RestorePanel()
    qtbot.addWidget(panel)
    panel.settings.set_faces_found(2)
    assert panel.settings.faces_found.text() == "2 faces found (each one's number is on the photo)"
