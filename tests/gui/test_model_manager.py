"""Models menu: import a weights file (a code-running pickle is refused) and download an
official checkpoint, here from a local server on 127.0.0.1 (never the network); Cancel
leaves no partial file; entries that cannot run here are refused with their reason."""

from __future__ import annotations

import hashlib
import io
import pickle
from pathlib import Path

import pytest
import torch
from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import QDialogButtonBox, QFileDialog
from test_restore_panel import save_safetensors, tiny_panini

from kintsugi.archs import gan_layouts as L
from kintsugi.engine import importer

pytestmark = pytest.mark.gui


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "userdata"
    monkeypatch.setenv("KINTSUGI_DATA_DIR", str(folder))
    return folder


def official_checkpoint(path: Path) -> bytes:
    """A tiny Panini saved the way its authors distribute Panini (mmediting .pth)."""
    state = L.gan_prior_from_canonical(tiny_panini().state_dict())
    buffer = io.BytesIO()
    torch.save({"meta": {"iter": 1}, "state_dict": state}, buffer)
    path.write_bytes(buffer.getvalue())
    return buffer.getvalue()


def library_file(folder: Path, server: str, body: bytes, extra: str = "") -> Path:
    path = folder / "library.toml"
    path.write_text(f'''
[[checkpoint]]
id = "tiny-panini-dl"
name = "Tiny Panini"
arch = "panini"
engine = "kintsugi"
in_size = 32
out_size = 64
scale = 2
size = {len(body)}
file = "panini_tiny.pth"
urls = ["{server}/panini.pth"]
listed_in = "test"
sha256 = "{hashlib.sha256(body).hexdigest()}"
licence = "NVIDIA Source Code License (non-commercial)"
non_commercial = true
{extra}''')
    return path


def test_import_adds_the_model_to_the_selector(qtbot, make_window, data_dir, tmp_path,
                                               monkeypatch) -> None:
    window = make_window()
    assert window.panel.restore.model_ids() == []
    path = save_safetensors(tiny_panini(), tmp_path / "downloads" / "my-faces.safetensors")
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        staticmethod(lambda *a, **k: (str(path), "")))
    with qtbot.waitSignal(window.models.changed, timeout=60_000):
        window.action("import").trigger()
    section = window.panel.restore
    assert section.model_ids() == ["my-faces"] and section.selected_model() == "my-faces"
    assert window.panel.mode() == "restore" and not section.empty_hint.isVisibleTo(window)
    assert [m.id for m in importer.user_models()] == ["my-faces"]
    assert path.exists()  # copied, never moved


class Sneaky:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("this would run on load",))


def test_a_pickle_that_runs_code_is_refused_with_a_dialog(qtbot, make_window, data_dir,
                                                          tmp_path) -> None:
    window = make_window()
    evil = tmp_path / "evil.pth"
    buffer = io.BytesIO()
    pickle.dump({"state_dict": {"w": torch.zeros(1)}, "x": Sneaky()}, buffer, protocol=2)
    evil.write_bytes(buffer.getvalue())
    with qtbot.waitSignal(window.error_shown, timeout=60_000) as blocker:
        window.models.import_file(evil)
    assert "evil.pth was not imported" in blocker.args[0] and "refuses" in blocker.args[0]
    assert "Traceback" not in blocker.args[0]
    qtbot.waitUntil(lambda: not window.models.importer.is_busy(), timeout=10_000)
    assert window.panel.restore.model_ids() == [] and importer.read_manifest() == []
    models = data_dir / "models"
    assert not models.exists() or not [p for p in models.iterdir() if p.suffix != ".toml"]


def test_download_from_a_local_server_makes_the_model_usable(qtbot, make_window, data_dir,
                                                             tmp_path, file_server) -> None:
    body = official_checkpoint(tmp_path / "panini.pth")
    file_server.files = {"/panini.pth": body}
    window = make_window()
    dialog = window.models.open_download_dialog(library_file(tmp_path, file_server.base, body))
    qtbot.waitUntil(lambda: dialog.entry_ids() == ["tiny-panini-dl"], timeout=30_000)
    assert dialog.table.item(0, 3).text().startswith("NC · ")
    assert "non-commercial use only" in dialog.details.text()
    assert dialog.table.item(0, 4).text() == f"{file_server.base}/panini.pth"
    assert dialog.download_button.isEnabled()
    with qtbot.waitSignal(window.models.changed, timeout=60_000):
        with qtbot.waitSignal(dialog.download_finished, timeout=60_000) as blocker:
            dialog.download_button.click()
    assert blocker.args[0] == "ok", dialog.last_error()
    assert "tiny-panini-dl" in window.panel.restore.model_ids()
    [model] = importer.read_manifest()
    assert model.path.read_bytes() == body and model.licence.endswith("(non-commercial)")
    qtbot.waitUntil(lambda: "✓ downloaded" in dialog.table.item(0, 0).text(), timeout=10_000)
    dialog.close()


def test_cancel_leaves_no_partial_file(qtbot, make_window, data_dir, tmp_path,
                                       file_server) -> None:
    body = official_checkpoint(tmp_path / "panini.pth") + bytes(4 << 20)  # + 4 MiB padding
    file_server.files = {"/panini.pth": body}
    file_server.delay = 0.01  # ~3 s for the whole file
    window = make_window()
    dialog = window.models.open_download_dialog(library_file(tmp_path, file_server.base, body))
    qtbot.waitUntil(lambda: dialog.download_button.isEnabled(), timeout=30_000)
    dialog.download_button.click()
    qtbot.waitUntil(lambda: dialog.progress.value() > 20, timeout=30_000)  # bytes are flowing
    assert dialog.cancel_button.isEnabled()
    with qtbot.waitSignal(dialog.download_finished, timeout=30_000) as blocker:
        dialog.cancel_button.click()
    assert blocker.args[0] == "cancelled"
    models = data_dir / "models"
    assert not (models / "panini_tiny.pth").exists()
    assert not (models / "panini_tiny.pth.part").exists()
    assert not list(models.glob("*.pth*")) and importer.read_manifest() == []
    assert window.panel.restore.model_ids() == []
    assert "nothing was kept" in dialog.progress_label.text()


def test_entries_that_cannot_run_here_are_refused_with_the_reason(
        qtbot, make_window, data_dir, tmp_path, file_server) -> None:
    gpen = '''
[[checkpoint]]
id = "gpen-test"
name = "GPEN test"
arch = "gpen"
engine = "none"
in_size = 512
out_size = 512
scale = 1
file = "gpen.pth"
urls = ["https://example.invalid/gpen.pth"]
listed_in = "test"
licence = "see its page"
notes = "Kintsugi has no GPEN architecture yet"
'''
    window = make_window()
    dialog = window.models.open_download_dialog(library_file(tmp_path, file_server.base, b"x", gpen))
    qtbot.waitUntil(lambda: len(dialog.entry_ids()) == 2, timeout=30_000)
    dialog.select("gpen-test")
    assert not dialog.download_button.isEnabled()
    assert "Cannot be used here" in dialog.details.text()
    assert "no GPEN architecture" in dialog.details.text()
    assert "no GPEN architecture" in dialog.table.item(1, 0).toolTip()
    dialog.start_download()  # even when asked directly, nothing starts
    assert not dialog.is_busy()
    dialog.select("tiny-panini-dl")
    assert dialog.download_button.isEnabled()
    dialog.close()


def test_the_shipped_library_lists_the_official_checkpoints(qtbot, make_window,
                                                            data_dir) -> None:
    window = make_window()
    window.action("download").trigger()
    dialog = window.models.download_dialog()
    assert dialog is not None
    qtbot.waitUntil(lambda: "panini-mfr" in dialog.entry_ids(), timeout=30_000)
    assert {"glean-ffhq-16x", "gpen-bfr-512", "codeformer"} <= set(dialog.entry_ids())
    dialog.select("gpen-bfr-512")
    assert not dialog.download_button.isEnabled()
    dialog.select("codeformer")
    row = dialog.entry_ids().index("codeformer")
    assert dialog.table.item(row, 3).text().startswith("NC")
    dialog.close()


def test_a_failure_is_not_left_under_another_selection(qtbot, make_window, data_dir, tmp_path,
                                                       file_server) -> None:
    body = official_checkpoint(tmp_path / "panini.pth")
    file_server.files = {}  # the server has nothing: the download fails with 404
    second = '''
[[checkpoint]]
id = "tiny-panini-other"
name = "Other Tiny Panini"
arch = "panini"
engine = "kintsugi"
in_size = 32
out_size = 64
scale = 2
size = 10
file = "panini_other.pth"
urls = ["http://127.0.0.1:9/other.pth"]
listed_in = "test"
licence = "MIT"
'''
    window = make_window()
    dialog = window.models.open_download_dialog(library_file(tmp_path, file_server.base, body, second))
    qtbot.waitUntil(lambda: len(dialog.entry_ids()) == 2, timeout=30_000)
    dialog.select("tiny-panini-dl")
    with qtbot.waitSignal(dialog.download_finished, timeout=60_000) as blocker:
        dialog.download_button.click()
    assert blocker.args[0] == "failed"
    assert dialog.progress_label.text().startswith("Failed")
    dialog.select("tiny-panini-other")
    assert dialog.progress_label.text() == ""
    dialog.close()


def test_an_unknown_layout_is_refused_without_pip_advice(qtbot, make_window, data_dir,
                                                         tmp_path) -> None:
    from safetensors.torch import save_file

    window = make_window()
    odd = tmp_path / "odd.safetensors"
    save_file({"mystery.weight": torch.zeros(3, 3)}, str(odd))
    with qtbot.waitSignal(window.error_shown, timeout=60_000) as blocker:
        window.models.import_file(odd)
    message = blocker.args[0]
    assert "odd.safetensors was not imported" in message
    assert "pip install" not in message and "Traceback" not in message
    qtbot.waitUntil(lambda: not window.models.importer.is_busy(), timeout=10_000)


def test_a_failed_download_wraps_its_reason_inside_a_dialog_on_screen(
        qtbot, make_window, data_dir, tmp_path) -> None:
    # Four unreachable addresses (nothing listens on port 9): a reason of some 400 characters.
    urls = ", ".join(f'"http://127.0.0.1:9/{"a-long-folder-name/" * 4}panini-{i}.pth"'
                     for i in range(4))
    library = tmp_path / "library.toml"
    library.write_text(f'''
[[checkpoint]]
id = "unreachable"
name = "Unreachable Panini"
arch = "panini"
engine = "kintsugi"
in_size = 32
out_size = 64
scale = 2
size = 10
file = "unreachable.pth"
urls = [{urls}]
listed_in = "test"
licence = "MIT"
''')
    window = make_window()
    dialog = window.models.open_download_dialog(library)
    screen = dialog.screen().availableGeometry()
    qtbot.waitUntil(lambda: dialog.download_button.isEnabled(), timeout=30_000)
    with qtbot.waitSignal(dialog.download_finished, timeout=60_000) as blocker:
        dialog.download_button.click()
    assert blocker.args[0] == "failed" and len(dialog.last_error()) > 300
    qtbot.wait(100)  # the layout takes in the long line
    assert dialog.progress_label.text().endswith(dialog.last_error())
    assert dialog.frameGeometry().width() <= screen.width()
    close = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Close)
    for widget in (dialog.download_button, close, dialog.progress_label):
        placed = QRect(widget.mapTo(dialog, QPoint(0, 0)), widget.size())
        assert dialog.rect().contains(placed), widget
    label = dialog.progress_label  # all of the text is in view: wrapped, not cut
    assert label.height() >= label.heightForWidth(label.width()) > label.fontMetrics().height()
    dialog.close()
