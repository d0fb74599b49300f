"""The setting records (engine/spec.py) and the notes built from them (engine/provenance.py):
one RestoreSpec + Controls pair, one TilePolicy, one heal note for the window and the CLI."""

from __future__ import annotations

import numpy as np
import pytest

import kintsugi
from kintsugi.engine.errors import KintsugiError
from kintsugi.engine.provenance import heal_note, restore_note, upscale_note
from kintsugi.engine.spec import Controls, RestoreSpec, TilePolicy, as_spec, spec_and_controls


def test_a_spec_keys_a_cache_whatever_form_its_faces_came_in() -> None:
    listed, tupled = RestoreSpec("panini-mfr", faces=[0, 2]), RestoreSpec("panini-mfr", faces=(0, 2))
    assert listed == tupled and hash(listed) == hash(tupled)
    assert {listed: 1}[tupled] == 1
    assert RestoreSpec("panini-mfr", faces=None).aligned


def test_controls_compare_by_value_and_not_by_their_map() -> None:
    by_mapping = Controls(bias=0.5, bias_blocks={2: 0.1, 0: -0.5})
    assert by_mapping.bias_blocks == ((0, -0.5), (2, 0.1)) and by_mapping == Controls(
        bias=0.5, bias_blocks=((2, 0.1), (0, -0.5)))
    painted = Controls(bias_map=np.ones((4, 4)))
    assert painted.has_map and painted.wants_bias and painted == Controls()
    assert Controls(bias_blocks={1: 0.0}).blocks == {} and not Controls(bias_blocks={1: 0.0}).wants_bias


def test_settings_by_name_fill_the_spec_and_the_controls() -> None:
    spec, controls = spec_and_controls("glean", None, {"faces": [1], "bias": 0.3, "seed": 7})
    assert spec == RestoreSpec("glean", faces=(1,)) and controls == Controls(bias=0.3, seed=7)
    with pytest.raises(TypeError, match="strength"):
        spec_and_controls("glean", None, {"strength": 1})
    with pytest.raises(TypeError, match="bias"):  # a session is built for a spec only
        as_spec("glean", {"bias": 0.3})


@pytest.mark.parametrize("value", ["auto", None, " AUTO "])
def test_tile_policy_auto(value) -> None:
    assert TilePolicy.parse(value).auto and str(TilePolicy.parse(value)) == "auto"


@pytest.mark.parametrize("value", [64, "64", TilePolicy(64)])
def test_tile_policy_side(value) -> None:
    assert TilePolicy.parse(value) == TilePolicy(64) and str(TilePolicy.parse(value)) == "64"


@pytest.mark.parametrize("value", [8, "8", "big", "64px", "-32"])
def test_one_message_for_every_bad_tile(value) -> None:
    with pytest.raises(KintsugiError, match="tile must be auto or a size of at least 16 px"):
        TilePolicy.parse(value)


def test_the_command_line_and_the_batch_say_the_same_about_a_bad_tile(capsys) -> None:
    from kintsugi.cli import main

    with pytest.raises(KintsugiError) as batch:
        kintsugi.BatchOptions(tile="8")
    with pytest.raises(SystemExit):
        main(["upscale", "a.png", "--tile", "8"])
    assert str(batch.value) in capsys.readouterr().err


def test_a_restore_batch_takes_its_model_from_the_spec() -> None:
    with pytest.raises(KintsugiError, match="RestoreSpec"):
        kintsugi.BatchOptions(model="realesrgan-x4plus", restore=RestoreSpec("panini-mfr"))
    assert kintsugi.BatchOptions(restore=RestoreSpec("panini-mfr")).model_ref == "panini-mfr"


def test_restore_note_records_the_spec_and_the_controls() -> None:
    spec = RestoreSpec("panini-mfr", faces=None, consistency=True)
    note = restore_note(spec, Controls(fidelity=0.25, seed=3), 2)
    assert note["operation"] == "restore" and note["faces"] == "aligned crop"
    assert note["fidelity"] == "0.25" and note["seed"] == "3" and note["consistency"] == "on"
    assert "background" not in note  # an aligned crop has none


def test_heal_note_keeps_what_made_the_picture() -> None:
    first = upscale_note("realesrgan-x4plus", 4, False)
    note = heal_note("glean-x", 2, 16, first)
    assert note["operation"] == "heal" and note["model"] == "glean-x" and note["factor"] == "2"
    assert "realesrgan-x4plus" in note["healed_from"] and "upscale" in note["healed_from"]
    assert heal_note("glean-x", 2, 16, {}) == heal_note("glean-x", 2, 16)
