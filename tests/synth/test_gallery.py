import cv2
import pytest
from hydra.utils import instantiate

from tests.conftest import compose_config
from wsiseg.synth.gallery import _panels, write_preset_gallery


@pytest.fixture(scope="module")
def hard():
    return instantiate(compose_config("synth", ["synth=hard"]).synth, _convert_="all")


def test_hard_gallery_finds_every_knob_and_writes_a_png(hard, tmp_path):
    captions = [p.caption.split("\n")[0] for p in _panels(hard, seed=0)]
    assert captions == [
        "single tumour cell", "ITC cluster", "ITC just under 0.2 mm", "micro just over 0.2 mm",
        "micro-metastasis border", "macro-metastasis border", "sinus histiocytes (mimic)",
        "high endothelial venule (mimic)", "germinal centre (mimic), 600 um", "tissue fold", "air bubble rim",
        "out of focus, 600 um",
    ]  # fmt: skip
    image = cv2.imread(str(write_preset_gallery(hard, tmp_path / "g.png")))
    assert image.shape[1] > 1400 and image.shape[0] > 3 * 250  # 6 columns, 3 rows of panels


def test_demo_gallery_leaves_out_what_the_demo_does_not_draw(tiny_spec):
    captions = [p.caption.split("\n")[0] for p in _panels(tiny_spec, seed=0)]
    assert "sinus histiocytes (mimic)" not in captions and "tissue fold" not in captions
    assert "single tumour cell" not in captions  # the demo's ITCs are compact discs
    assert "macro-metastasis border" in captions
