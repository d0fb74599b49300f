"""The Restore faces mode's settings under the slider: the seed, which faces are restored,
how the rest of the photo is enlarged and by how much, the consistency lock and the colour
match."""

from __future__ import annotations

import random
from typing import Any

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QStackedWidget,
    QWidget,
)

from kintsugi import RestoreSpec

BICUBIC = "bicubic"
DEFAULT_BACKGROUND = "default"  # the combo's data for the default upscaler
NO_SEED = -1  # the seed spin box's special value: the model's stored noise
MODEL_SCALE = 0  # the photo-scale spin box's special value: the model's own


def parse_faces(mode: str, indices: str, min_size: int) -> Any:
    """The faces choice for kintsugi.restore; raises ValueError on a bad index list."""
    if mode == "indices":
        words = [v for v in indices.replace(";", ",").replace(" ", ",").split(",") if v]
        if not words or not all(v.isdigit() for v in words):
            raise ValueError(f"{indices!r} is not a list of face numbers: list them like 0,2 "
                             "(0 = the leftmost face)")
        return [int(v) for v in words]
    if mode == "min":
        return int(min_size)
    if mode == "aligned":
        return None
    return "all"



class RestoreSettings(QWidget):
    """Seed, faces, background, scale and the two checks, as one form."""

    seed_changed = Signal()
    selection_changed = Signal()  # which faces are chosen changed (the outlines follow)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        seed_row = QHBoxLayout()
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(NO_SEED, 2**31 - 1)
        self.seed_spin.setValue(NO_SEED)
        self.seed_spin.setSpecialValueText("Stored")
        self.seed_spin.setToolTip(
            "Seed of the generator's noise (hair strands, pores). 'Stored' uses the model's own "
            "noise; each seed gives another plausible restoration of the same photo."
        )
        self.seed_spin.valueChanged.connect(self.seed_changed)
        self.another_button = QPushButton("Another version")
        self.another_button.setToolTip("Pick a new seed: another plausible restoration")
        self.another_button.clicked.connect(self.another_version)
        self.seed_spin.setMaximumWidth(100)
        self.another_button.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Fixed)
        seed_row.addWidget(QLabel("Seed"))
        seed_row.addWidget(self.seed_spin, 1)
        seed_row.addWidget(self.another_button)

        self.faces_combo = QComboBox()
        self.faces_combo.addItem("All faces", "all")
        self.faces_combo.addItem("Faces by number", "indices")
        self.faces_combo.addItem("Faces at least…", "min")
        self.faces_combo.addItem("Aligned face crop", "aligned")
        self.faces_combo.setToolTip(
            "Which faces are restored; the rest is only upscaled. Click a face's outline on "
            "the image to include or exclude it. 'Aligned face crop': the photo is already "
            "a face crop of the model's input size (e.g. GLEAN's cat models)")
        self.faces_edit = QLineEdit()
        self.faces_edit.setPlaceholderText("0,2 (0 = leftmost)")
        self.faces_edit.setToolTip("Numbers of the faces to restore, left to right from 0")
        self.faces_edit.textChanged.connect(self.selection_changed)
        self.faces_min = QSpinBox()
        self.faces_min.setRange(1, 10000)
        self.faces_min.setValue(32)
        self.faces_min.setSuffix(" px")
        self.faces_min.setToolTip("Restore only faces at least this tall or wide")
        self._faces_stack = QStackedWidget()
        self._faces_stack.addWidget(QWidget())
        self._faces_stack.addWidget(self.faces_edit)
        self._faces_stack.addWidget(self.faces_min)
        self._faces_stack.addWidget(QWidget())
        self._faces_stack.setMaximumHeight(self.faces_edit.sizeHint().height())
        self.faces_combo.currentIndexChanged.connect(self._on_faces_mode)
        self.faces_found = QLabel("")
        self.faces_found.setProperty("role", "hint")
        self.faces_found.setWordWrap(True)

        self.background_combo = QComboBox()
        self.background_combo.setToolTip(
            "How the rest of the photo is enlarged: an upscaler model (the default one unless "
            "you choose), or plain bicubic (fast)"
        )
        self.scale_spin = QSpinBox()
        self.scale_spin.setRange(MODEL_SCALE, 8)
        self.scale_spin.setValue(MODEL_SCALE)
        self.scale_spin.setSpecialValueText("Model's own")
        self.scale_spin.setPrefix("×")
        self.scale_spin.setToolTip(
            "How much the whole photo is enlarged; 'Model's own' uses the face model's "
            "scale (at most ×4 and 100 MP)")
        self.consistency_check = QCheckBox("Consistency lock")
        self.consistency_check.setToolTip(
            "The result, shrunk back to the original size, equals the original exactly: "
            "the face model may add detail but cannot change what the photo shows"
        )
        self.color_check = QCheckBox("Match colours")
        self.color_check.setChecked(True)
        self.color_check.setToolTip(
            "Shift each restored face's colours to those of the face in the photo, so "
            "skin tones stay as they were"
        )
        form.addRow(seed_row)  # spans both columns: the button needs the width
        form.addRow("Faces", self.faces_combo)
        form.addRow("", self._faces_stack)
        form.addRow("", self.faces_found)
        form.addRow("Rest", self.background_combo)
        form.addRow("Scale", self.scale_spin)
        form.addRow(self.consistency_check)
        form.addRow(self.color_check)
        self._form = form
        self._on_faces_mode(0)
        self.show_found("")

    def spec(self, model: str) -> RestoreSpec:
        """What to restore with `model`; raises ValueError when the face list cannot be read."""
        background = self.background_combo.currentData()
        scale = self.scale_spin.value()
        faces = parse_faces(self.faces_combo.currentData(), self.faces_edit.text(),
                            self.faces_min.value())
        if faces is None:  # an aligned crop: the model's own scale, no background to enlarge
            background, scale = None, MODEL_SCALE
        return RestoreSpec(
            model=model,
            faces=faces,
            background=None if background in (None, DEFAULT_BACKGROUND) else background,
            scale=None if scale == MODEL_SCALE else scale,
            consistency=self.consistency_check.isChecked(),
            color_match=self.color_check.isChecked(),
        )

    def seed(self) -> int | None:
        """The chosen seed; None for the model's stored noise (or a model without noise)."""
        seed = self.seed_spin.value() if self.seed_spin.isEnabled() else NO_SEED
        return None if seed == NO_SEED else seed

    def set_noisy(self, noisy: bool) -> None:
        """Whether the model draws random noise, which a seed chooses."""
        self.seed_spin.setEnabled(noisy)
        self.another_button.setEnabled(noisy)
        if not noisy:
            self.seed_spin.setToolTip("This model draws no random noise, so a seed would "
                                      "change nothing")

    def set_background_choices(self, upscalers: list[Any]) -> None:
        current = self.background_combo.currentData()
        self.background_combo.clear()
        default = next((info for info in upscalers if getattr(info, "default", False)), None)
        self.background_combo.addItem(
            f"Default upscaler ({default.name})" if default else "Default upscaler",
            DEFAULT_BACKGROUND)
        self.background_combo.addItem("Bicubic (fast)", BICUBIC)
        for info in upscalers:
            self.background_combo.addItem(f"{info.name}  (×{info.scale})", info.id)
        if current is not None:
            self.select_background(current)

    def select_background(self, value: str) -> None:
        index = self.background_combo.findData(value)
        if index >= 0:
            self.background_combo.setCurrentIndex(index)

    def set_face_selection(self, indices: list[int]) -> None:
        """Faces clicked on the canvas: restore exactly these."""
        self.faces_combo.setCurrentIndex(self.faces_combo.findData("indices"))
        self.faces_edit.setText(",".join(str(i) for i in sorted(indices)))

    def face_selection(self, count: int) -> set[int]:
        """Which of `count` detected faces the current choice restores (for the outlines)."""
        try:
            faces = parse_faces(self.faces_combo.currentData(), self.faces_edit.text(),
                                self.faces_min.value())
        except ValueError:
            return set()
        if faces == "all":
            return set(range(count))
        if isinstance(faces, list):
            return {i for i in faces if 0 <= i < count}
        return set()

    def set_faces_found(self, count: int) -> None:
        if count == 0:
            text = "No face found in this photo"
        elif count == 1:
            text = "1 face found"
        else:
            text = f"{count} faces found (each one's number is on the photo)"
        self.show_found(text)

    def show_found(self, text: str) -> None:
        """The faces-found line; its row takes no room while it says nothing."""
        self.faces_found.setText(text)
        self._form.setRowVisible(self.faces_found, bool(text))

    @Slot()
    def another_version(self) -> None:
        """A new random seed (the change itself triggers the preview)."""
        current = self.seed_spin.value()
        seed = current
        while seed == current:
            seed = random.randrange(0, 2**31 - 1)  # noqa: S311 - not for security
        self.seed_spin.setValue(seed)

    @Slot(int)
    def _on_faces_mode(self, index: int) -> None:
        self._faces_stack.setCurrentIndex(index)
        mode = self.faces_combo.currentData()
        self._form.setRowVisible(self._faces_stack, mode in ("indices", "min"))
        for widget in (self.background_combo, self.scale_spin):  # an aligned crop has neither
            self._form.setRowVisible(widget, mode != "aligned")
        self.selection_changed.emit()
