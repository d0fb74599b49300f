"""`kintsugi upscale --mix`: the command line writes what the window opens at (issue 14)."""

import numpy as np
import pytest

import kintsugi
from kintsugi.cli import main


@pytest.fixture(scope="module")
def ends():
    return (kintsugi.load_model("rrdn-x4", device="cpu"),
            kintsugi.load_model("realesrgan-x4plus", device="cpu"))


@pytest.fixture
def photo(tmp_path, astronaut_full):
    path = tmp_path / "face.png"
    kintsugi.save_image(kintsugi.Image.from_array(astronaut_full[150:178, 180:212]), path)
    return path


def levels(image: kintsugi.Image) -> np.ndarray:
    return np.rint(image.pixels.astype(np.float64) * 255).astype(np.int64)


def test_default_x4_output_is_the_blend_at_the_default_mix(photo, ends, tmp_path):
    out = tmp_path / "out.png"
    assert main(["upscale", str(photo), "-o", str(out)]) == 0  # the default model is x4
    image = kintsugi.open_image(photo)
    faithful, realistic = (kintsugi.upscale(image, m) for m in ends)
    expected = kintsugi.blend(faithful, realistic, kintsugi.DEFAULT_MIX)
    got = levels(kintsugi.open_image(out))
    assert np.abs(got - levels(expected)).max() <= 1
    assert np.abs(got - levels(realistic)).max() > 8  # not the realistic model alone
    note = kintsugi.read_provenance(out)
    assert note["model"] == "realesrgan-x4plus"
    assert f"mix {kintsugi.DEFAULT_MIX:.2f}" in note["alternative"]
    assert "rrdn-x4" in note["alternative"]


def test_mix_one_is_the_realistic_model_alone(photo, ends, tmp_path):
    out = tmp_path / "one.png"
    assert main(["upscale", str(photo), "-o", str(out), "--mix", "1"]) == 0
    alone = kintsugi.upscale(kintsugi.open_image(photo), ends[1])
    assert np.abs(levels(kintsugi.open_image(out)) - levels(alone)).max() <= 1
    assert "alternative" not in kintsugi.read_provenance(out)


def test_mix_is_refused_for_a_model_without_a_partner(photo, tmp_path, capsys):
    out = tmp_path / "x2.png"
    code = main(["upscale", str(photo), "-o", str(out), "--model", "waifu2x-photo-x2",
                 "--mix", "0.5"])
    err = capsys.readouterr().err
    assert code == 2 and not out.exists()
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Mix partner" in lines[0] and "Traceback" not in err


def test_a_model_without_a_partner_is_written_alone_by_default(photo, tmp_path):
    out = tmp_path / "x2.png"
    assert main(["upscale", str(photo), "-o", str(out), "--model", "waifu2x-photo-x2"]) == 0
    assert "alternative" not in kintsugi.read_provenance(out)


@pytest.mark.parametrize("bits", [8, 16])
def test_the_mixed_output_keeps_the_lock_exactly(photo, ends, tmp_path, bits):
    out = tmp_path / f"locked{bits}.png"
    code = main(["upscale", str(photo), "-o", str(out), "--consistency", "--mix", "0.4",
                 "--bit-depth", str(bits)])
    assert code == 0
    note = kintsugi.read_provenance(out)
    assert note["consistency"] == "on" and "mix 0.40" in note["alternative"]
    saved, source = kintsugi.open_image(out), kintsugi.open_image(photo)
    top = 2**bits - 1
    ints = np.rint(saved.pixels.astype(np.float64) * top).astype(np.int64)
    h, w, c = ints.shape
    sums = ints.reshape(h // 4, 4, w // 4, 4, c).sum(axis=(1, 3))
    expected = np.rint(source.pixels.astype(np.float64) * top).astype(np.int64) * 16
    np.testing.assert_array_equal(sums, expected)
    alone = kintsugi.upscale(source, ends[1], consistency=True)
    assert np.abs(saved.pixels.astype(np.float64) - alone.pixels).max() > 8 / 255  # mixed


def test_batch_options_refuse_a_mix_outside_zero_to_one():
    with pytest.raises(kintsugi.KintsugiError, match="between 0 and 1"):
        kintsugi.BatchOptions(mix=1.5)
