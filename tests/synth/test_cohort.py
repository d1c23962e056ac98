import csv
import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import tifffile

from wsiseg.annotations import max_feret_diameter, read_asap_xml
from wsiseg.labels import PN_STAGES, read_stage_labels
from wsiseg.slide import open_slide
from wsiseg.staging import pn_stage
from wsiseg.synth import CohortSpec, generate_cohort, node_labels, plan_cohort, stage_quota


def manifest(root: Path) -> list[dict[str, str]]:
    with (root / "manifest.csv").open() as fh:
        return list(csv.DictReader(fh))


def test_stage_quota_matches_camelyon17_and_covers_every_stage():
    counts = {"pN0": 25, "pN0(i+)": 11, "pN1mi": 21, "pN1": 30, "pN2": 13}
    assert Counter(stage_quota(counts, 100)) == counts
    assert sorted(stage_quota(counts, 5)) == sorted(PN_STAGES)
    assert len(stage_quota(counts, 37)) == 37


@pytest.mark.parametrize("stage", PN_STAGES)
def test_node_labels_always_give_their_stage(stage):
    rng = np.random.default_rng(0)
    for _ in range(200):
        labels = node_labels(stage, rng)
        assert len(labels) == 5 and pn_stage(labels) == stage


def test_label_mix_is_close_to_camelyon17_training():
    spec = CohortSpec(name="x", n_patients=100, mpp_scale=8, slide_size_mm=(6, 4.6))
    fractions = Counter()
    for seed in range(5):
        _, jobs = plan_cohort(spec, seed)
        fractions.update(j.label for j in jobs)
    total = sum(fractions.values())
    target = {"negative": 0.646, "itc": 0.07, "micro": 0.114, "macro": 0.17}
    for label, share in target.items():
        assert abs(fractions[label] / total - share) < 0.03, (label, fractions[label] / total)


def test_layout_is_camelyon17s(tiny_cohort):
    rows = manifest(tiny_cohort)
    c17 = [r for r in rows if r["dataset"] == "camelyon17"]
    assert len(c17) == 25
    for r in c17:
        patient = int(r["patient"][-3:])
        assert r["path"] == f"centre_{patient * 5 // 5}/{r['slide']}"
        assert (tiny_cohort / r["path"]).is_file()
        has_xml = (tiny_cohort / "lesion_annotations" / r["slide"].replace(".tif", ".xml")).is_file()
        assert has_xml == (r["label"] != "negative")
    patients = read_stage_labels(tiny_cohort / "stage_labels.csv")
    assert sorted(p.stage for p in patients) == sorted(PN_STAGES)  # 5 patients: one per stage
    by_slide = {r["slide"]: r["label"] for r in c17}
    for p in patients:
        assert pn_stage([n.label for n in p.nodes]) == p.stage
        assert all(by_slide[n.slide] == n.label for n in p.nodes)
    assert json.loads((tiny_cohort / "cohort.json").read_text())["complete"] is True


def test_camelyon16_variant_uses_its_group_names(tiny_cohort):
    root = tiny_cohort / "camelyon16" / "training"
    assert (root / "normal" / "normal_001.tif").is_file()
    annotations = read_asap_xml(root / "lesion_annotations" / "tumor_001.xml")
    assert {a.group for a in annotations} <= {"_0", "_2"} and annotations[0].group == "_0"


def test_lesion_diameters_match_the_slide_label(tiny_cohort):
    """The largest annotated lesion's longest diameter falls in its label's range (0.2 / 2.0 mm cut-offs)."""
    for r in manifest(tiny_cohort):
        if not r["annotation"]:
            assert r["label"] == "negative"
            continue
        tumours = [a for a in read_asap_xml(tiny_cohort / r["annotation"]) if a.role == "tumor"]
        largest_mm = max(max_feret_diameter(a.vertices_xy) for a in tumours) * float(r["mpp"]) / 1000
        expected = "itc" if largest_mm < 0.2 else "micro" if largest_mm < 2.0 else "macro"
        assert expected == r["label"], (r["slide"], largest_mm)
        assert max(map(float, r["lesions_mm"].split())) == pytest.approx(largest_mm, abs=1e-3)


def test_slides_are_tiled_jpeg_pyramids_with_the_centres_mpp(tiny_cohort):
    for r in manifest(tiny_cohort):
        path = tiny_cohort / r["path"]
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            assert tif.is_bigtiff and page.is_tiled and page.compression == 7  # JPEG
            assert (page.tilewidth, page.tilelength) == (256, 256)
            has_tags = "XResolution" in page.tags and page.tags["ResolutionUnit"].value == 3
        philips = r["centre"] == "4" and r["dataset"] == "camelyon17"
        assert has_tags != philips
        with open_slide(path) as slide:
            assert slide.mpp == pytest.approx(float(r["mpp"]), rel=1e-6)
            assert slide.mpp_source == ("philips-description" if philips else "backend")
            assert np.allclose(slide.level_downsamples, 2.0 ** np.arange(slide.level_count), rtol=0.01)


def test_rerun_reuses_and_another_seed_is_refused(tiny_cohort, tiny_spec):
    tif = tiny_cohort / "centre_0" / "patient_000_node_0.tif"
    before = os.stat(tif).st_mtime_ns
    generate_cohort(tiny_spec, tiny_cohort, seed=0)
    assert os.stat(tif).st_mtime_ns == before
    with pytest.raises(FileExistsError, match="overwrite=true"):
        generate_cohort(tiny_spec, tiny_cohort, seed=1)
