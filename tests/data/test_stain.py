"""Stain normalisation on synthetic H&E tiles made with known stain matrices (OD = C @ S^T, I = Io exp(-OD))."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
import torch

from wsiseg.data.stain import (
    MACENKO_STAIN_MATRIX,
    StainNormalizer,
    StainSettings,
    fit_reference,
)
from wsiseg.data.stain import _masked_percentile as masked_percentile
from wsiseg.data.stain import _principal_plane as principal_plane


def _unit(m) -> np.ndarray:
    m = np.asarray(m, np.float64)
    return m / np.linalg.norm(m, axis=0)


REF = _unit(MACENKO_STAIN_MATRIX)
RUIFROK = _unit([[0.65, 0.07], [0.70, 0.99], [0.29, 0.11]])  # Ruifrok & Johnston's H&E: a different "centre"
PURPLE = _unit([[0.49, 0.10], [0.78, 0.86], [0.39, 0.50]])  # a third, bluer haematoxylin and redder eosin
MIXED = (0.25, 0.35, 0.30, 0.10)  # pixel kinds: H only, E only, both, background (C = 0)


def _tile(stains, seed, size=48, mix=MIXED, h=0.25, e=0.15, quantise=True) -> torch.Tensor:
    """(3, size, size) synthetic H&E tile in [0, 1]: gamma-distributed concentrations of the two stains."""
    rng = np.random.default_rng(seed)
    n = size * size
    kind = rng.choice(4, n, p=mix)
    ch, ce = rng.gamma(3.0, h, n), rng.gamma(3.0, e, n)
    conc = np.zeros((n, 2))
    conc[kind == 0, 0], conc[kind == 1, 1] = ch[kind == 0], ce[kind == 1]
    conc[kind == 2, 0], conc[kind == 2, 1] = 0.5 * ch[kind == 2], 0.7 * ce[kind == 2]
    rgb = 240 / 255 * np.exp(-conc @ np.asarray(stains).T)  # (n, 3)
    if quantise:
        rgb = np.round(rgb * 255) / 255
    return torch.tensor(rgb.T.reshape(3, size, size), dtype=torch.float32)


def _batch(stains, seeds, **kw) -> torch.Tensor:
    return torch.stack([_tile(stains, s, **kw) for s in seeds])


def _angles(est: torch.Tensor, ref) -> torch.Tensor:
    """Degrees between matching columns of (B, 3, 2) and (3, 2)."""
    ref = torch.as_tensor(np.asarray(ref), dtype=est.dtype)
    cross = torch.linalg.cross(est, ref.expand_as(est), dim=1).norm(dim=1)
    return torch.rad2deg(torch.atan2(cross, (est * ref).sum(1)))


def _special_tiles(size=48) -> dict[str, torch.Tensor]:
    glass = torch.full((3, size, size), 0.95) + 0.03 * torch.rand(
        3, size, size, generator=torch.Generator().manual_seed(0)
    )
    sparse = glass.clone()
    sparse[:, :2, :3] = _tile(RUIFROK, 7, size=size)[:, :2, :3]  # 6 tissue pixels
    return {
        "white": torch.ones(3, size, size),
        "glass": glass,
        "sparse": sparse,
        "eosin_only": _tile(RUIFROK, 3, size=size, mix=(0, 0.9, 0, 0.1)),
        "almost_no_h": _tile(RUIFROK, 4, size=size, mix=(0.001, 0.85, 0.002, 0.147)),
        "h_only": _tile(RUIFROK, 5, size=size, mix=(0.9, 0, 0, 0.1)),
        "flat_purple": torch.tensor([0.55, 0.35, 0.6])[:, None, None].expand(3, size, size).clone(),
        "black": torch.zeros(3, size, size),
    }


# --- building blocks -------------------------------------------------------------------------------------------


def test_jacobi_plane_matches_eigh():
    gen = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(400, 3, 3, generator=gen, dtype=torch.float64))
    spectra = torch.tensor([[1, 0.1, 0.01], [1, 1e-2, 1e-5], [1, 0.5, 0.3], [0.02, 0.004, 1e-6]], dtype=torch.float64)
    cov = q @ torch.diag_embed(spectra.repeat(100, 1)) @ q.transpose(1, 2)
    plane = principal_plane(cov.float()).double()  # (B, 3, 2)
    _, vectors = torch.linalg.eigh(cov)
    expected = vectors[:, :, [2, 1]]
    projector = lambda m: m @ m.transpose(1, 2)  # noqa: E731 (the plane, whatever the signs)
    assert (projector(plane) - projector(expected)).abs().max() < 1e-4
    assert ((plane[:, :, 0] * expected[:, :, 0]).sum(1).abs() > 1 - 1e-6).all()
    assert (plane[:, :, 0].sum(1) > 0).all()  # turned into positive optical density
    diagonal = principal_plane(torch.diag_embed(torch.tensor([[0.2, 0.5, 0.1], [0.0, 0.0, 0.0]])))
    assert torch.isfinite(diagonal).all()
    assert torch.allclose(diagonal[0], torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.0, 0.0]]))


def test_masked_percentile_is_torchstains_nearest_rank_per_tile():
    gen = torch.Generator().manual_seed(1)
    values = torch.randn(5, 2, 3000, generator=gen)
    mask = torch.rand(5, 1, 3000, generator=gen) < torch.tensor([1.0, 0.5, 0.1, 0.02, 0.004])[:, None, None]
    count = mask.sum(-1).float()
    for q in (1.0, 99.0, 50.0):
        got = masked_percentile(values, mask, count, q)
        for b in range(5):
            for k in range(2):
                chosen = values[b, k][mask[b, 0]]
                rank = 1 + round(q / 100 * (chosen.numel() - 1))  # torchstain's percentile()
                assert got[b, k] == chosen.kthvalue(rank).values


# --- Macenko ----------------------------------------------------------------------------------------------------


def test_macenko_estimates_the_stains_a_tile_was_made_with():
    norm = StainNormalizer("macenko")
    for stains in (RUIFROK, PURPLE, REF):
        est = norm.estimate(_batch(stains, range(3)))
        assert est.valid.all() and not est.degenerate.any()
        assert _angles(est.stain_matrix, stains).max() < 1.0


def test_macenko_maps_other_stains_onto_the_reference():
    norm = StainNormalizer("macenko")
    x = torch.cat([_batch(RUIFROK, range(3)), _batch(PURPLE, range(3, 6))])
    y = norm(x)
    assert y.shape == x.shape and torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1
    out = norm.estimate(y)
    assert _angles(out.stain_matrix, REF).max() < 1.5  # the output's stains are the reference's
    assert torch.allclose(out.max_concentrations, norm.max_concentrations.expand(6, 2), rtol=0.03)
    assert (y - x).abs().mean() > 0.03  # and it did change them


def test_macenko_leaves_a_tile_of_the_reference_unchanged():
    tile = _tile(REF, 11, size=64, quantise=False)[None]
    own = StainNormalizer("macenko").estimate(tile).max_concentrations[0]
    norm = StainNormalizer("macenko", max_concentrations=own.tolist())  # the published stains, this tile's scale
    assert (norm(tile) - tile).abs().max() < 2e-3
    fitted = fit_reference("macenko", tile)  # the tile as its own reference
    assert _angles(fitted.stain_matrix[None], REF).max() < 0.5
    assert (fitted(tile) - tile).abs().max() < 2e-3


# --- Reinhard ---------------------------------------------------------------------------------------------------


def _lab_stats(image: torch.Tensor, mask: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """HistomicsTK's rgb_to_lab (Ruderman's l-alpha-beta of 0..255 RGB), in numpy, over the masked pixels."""
    rgb_to_lms = np.array([[0.3811, 0.5783, 0.0402], [0.1967, 0.7244, 0.0782], [0.0241, 0.1288, 0.8444]])
    lms_to_lab = np.diag([3**-0.5, 6**-0.5, 2**-0.5]) @ np.array([[1, 1, 1], [1, 1, -2], [1, -1, 0]])
    rgb = image.reshape(3, -1).double().numpy().T * 255
    lab = np.log(np.maximum(rgb @ rgb_to_lms.T, 1.0)) @ lms_to_lab.T
    return lab[mask.reshape(-1).numpy()].mean(0), lab[mask.reshape(-1).numpy()].std(0)


def test_reinhard_gives_the_tissue_the_reference_statistics():
    norm = StainNormalizer("reinhard")
    x = torch.cat([_batch(RUIFROK, range(3)), _batch(PURPLE, range(3, 6))])
    y = norm(x)
    assert torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1
    mean, std = norm.lab_mean.double().numpy(), norm.lab_std.double().numpy()
    for tile, out in zip(x, y, strict=True):
        tissue = (math.log(240 / 255) - torch.log(tile.clamp(min=1 / 255))).mean(0) >= 0.15  # the input's
        before, after = _lab_stats(tile, tissue), _lab_stats(out, tissue)
        assert np.abs(before[1] / std - 1).max() > 0.3  # it moved...
        assert np.abs(after[0] - mean).max() < 0.02 and np.abs(after[1] / std - 1).max() < 0.05  # ...onto it
        assert np.allclose(norm.estimate(tile[None]).mean[0].numpy(), before[0], atol=1e-4)  # same colour space


def test_reinhard_maps_one_centre_onto_another():
    a, b = _batch(RUIFROK, range(6)), _batch(PURPLE, range(6, 12))
    norm = fit_reference("reinhard", a)
    before, after = norm.estimate(b), norm.estimate(norm(b))  # each measured on its own tissue
    assert (before.mean - norm.lab_mean).abs().max() > 0.1
    assert (after.mean - norm.lab_mean).abs().max() < 0.02
    assert ((after.std - norm.lab_std).abs() / norm.lab_std).max() < 0.03


def test_reinhard_leaves_a_tile_of_the_reference_unchanged():
    tile = _tile(PURPLE, 12, size=64, quantise=False)[None]
    fitted = fit_reference("reinhard", tile)
    assert (fitted(tile) - tile).abs().max() < 2e-3


# --- the cases that matter ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["macenko", "reinhard"])
def test_background_tiles_come_back_unchanged(method):
    norm = StainNormalizer(method)
    special = _special_tiles()
    for name in ("white", "glass", "sparse", "black"):
        x = special[name][None]
        assert not norm.estimate(x).valid.any(), name
        assert torch.equal(norm(x), x), name


@pytest.mark.parametrize("method", ["macenko", "reinhard"])
def test_one_stain_and_flat_tiles_stay_finite_and_close(method):
    norm = StainNormalizer(method)
    special = _special_tiles()
    for name in ("eosin_only", "almost_no_h", "h_only", "flat_purple"):
        x = special[name][None]
        y = norm(x)
        assert torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1, name
        if name != "flat_purple":  # one colour: its own 99th percentile, scaled to the reference's
            assert (y - x).abs().mean() < 0.12, name
    if method == "macenko":
        est = norm.estimate(torch.stack([special[k] for k in ("eosin_only", "almost_no_h", "h_only")]))
        assert est.degenerate.all()  # recoloured with one reference stain, not split into two shades
        assert _angles(est.stain_matrix[:2, :, 1:], RUIFROK[:, 1:]).max() < 2  # the eosin it has...
        assert _angles(est.stain_matrix[:2, :, :1], REF[:, :1]).max() < 1e-3  # ...and the reference's H
        assert _angles(est.stain_matrix[2:, :, :1], RUIFROK[:, :1]).max() < 2


@pytest.mark.parametrize("method", ["macenko", "reinhard"])
def test_glass_pixels_of_a_tissue_tile_keep_their_colour(method):
    tile = _tile(RUIFROK, 8)
    tile[:, :10] = torch.tensor([0.96, 0.97, 0.99])[:, None, None]  # brighter than Io: glass
    out = StainNormalizer(method)(tile[None])[0]
    assert torch.equal(out[:, :10], tile[:, :10])
    assert (out[:, 10:] - tile[:, 10:]).abs().mean() > 0.02


@pytest.mark.parametrize("method", ["macenko", "reinhard"])
def test_tiles_are_normalised_independently_of_their_batch(method):
    norm = StainNormalizer(method)
    special = _special_tiles()
    x = torch.stack([special["white"], _tile(RUIFROK, 1), special["eosin_only"], _tile(PURPLE, 2), special["glass"]])
    together = norm(x)
    alone = torch.cat([norm(x[i : i + 1]) for i in range(len(x))])
    assert torch.allclose(together, alone, atol=1e-6)
    assert torch.equal(together[0], x[0]) and torch.equal(together[4], x[4])
    assert norm(x[:0]).shape == (0, 3, 48, 48)


@pytest.mark.parametrize("method", ["macenko", "reinhard"])
def test_dtypes_and_autocast(method):
    norm = StainNormalizer(method)
    x = _batch(RUIFROK, range(2))
    y = norm(x)
    half = norm(x.half())
    assert half.dtype == torch.float16 and (half.float() - y).abs().max() < 5e-3
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.allclose(norm(x), y, atol=1e-6)  # no matmul left for autocast to lower
    with pytest.raises(ValueError, match="images"):
        norm(x[0])


# --- the reference: fitting, state_dict, record -----------------------------------------------------------------


def test_fit_reference_over_two_centres_lies_between_them():
    a, b = _batch(RUIFROK, range(6)), _batch(PURPLE, range(6, 12))
    fitted = fit_reference("macenko", [a, b])  # an iterable of batches
    to_a, to_b = _angles(fitted.stain_matrix[None], RUIFROK)[0], _angles(fitted.stain_matrix[None], PURPLE)[0]
    apart = _angles(torch.tensor(RUIFROK, dtype=torch.float32)[None], PURPLE)[0]
    assert (to_a < apart).all() and (to_b < apart).all() and ((to_a + to_b) < apart + 0.5).all()
    assert torch.allclose(fitted.stain_matrix, fit_reference("macenko", torch.cat([a, b])).stain_matrix)
    conc = StainNormalizer("macenko").estimate(torch.cat([a, b])).max_concentrations
    assert ((fitted.max_concentrations > conc.min(0).values) & (fitted.max_concentrations < conc.max(0).values)).all()
    reinhard = fit_reference("reinhard", [a, b])
    mean_a, mean_b = reinhard.estimate(a).mean.mean(0), reinhard.estimate(b).mean.mean(0)
    assert (reinhard.lab_mean - torch.minimum(mean_a, mean_b) > -1e-4).all()
    assert (torch.maximum(mean_a, mean_b) - reinhard.lab_mean > -1e-4).all()
    with pytest.raises(ValueError, match="no tile"):
        fit_reference("macenko", torch.ones(2, 3, 16, 16))


def test_reference_lives_in_the_state_dict():
    fitted = fit_reference("macenko", _batch(PURPLE, range(4)))
    state = fitted.state_dict()
    assert set(state) == {"stain_matrix", "max_concentrations"}
    fresh = StainNormalizer("macenko")
    fresh.load_state_dict(state)
    x = _batch(RUIFROK, range(2))
    assert torch.equal(fresh(x), fitted(x))
    assert set(StainNormalizer("reinhard").state_dict()) == {"lab_mean", "lab_std"}
    with pytest.raises(RuntimeError):
        StainNormalizer("reinhard").load_state_dict(state)


@pytest.mark.parametrize("method", ["macenko", "reinhard"])
def test_record_round_trip(method):
    settings = StainSettings(io=250.0, alpha=2.0, beta=0.1, min_tissue=0.05, max_gain=3.0, min_angle=8.0)
    norm = fit_reference(method, _batch(PURPLE, range(4)), settings)
    record = json.loads(json.dumps(norm.record()))  # plain values all the way
    back = StainNormalizer.from_record(record)
    assert back.method == method and back.settings == settings
    for key, value in norm.state_dict().items():
        assert torch.equal(back.state_dict()[key], value), key
    x = _batch(RUIFROK, range(2))
    assert torch.equal(back(x), norm(x))
    default = StainNormalizer(method).record()
    if method == "macenko":
        assert default["stain_matrix"] == [list(row) for row in MACENKO_STAIN_MATRIX]
        assert default["max_concentrations"] == [1.9705, 1.0308]
    assert set(default) - {"method", "stain_matrix", "max_concentrations", "lab_mean", "lab_std"} == {
        "io", "alpha", "beta", "min_tissue", "max_gain", "min_angle",
    }  # fmt: skip


def _bad_records():
    good = StainNormalizer("macenko").record()
    reinhard = StainNormalizer("reinhard").record()
    cases = [
        ("method", {**good, "method": "vahadane"}),
        ("method", {k: v for k, v in good.items() if k != "method"}),
        ("colour", {**good, "colour": 1.0}),
        ("lab_mean", {**good, "lab_mean": [0.0, 0.0, 0.0]}),  # the other method's key
        ("max_concentrations", {k: v for k, v in good.items() if k != "max_concentrations"}),
        ("beta", {k: v for k, v in good.items() if k != "beta"}),
        ("max_concentrations", {**good, "max_concentrations": [1.9]}),
        ("max_concentrations", {**good, "max_concentrations": [1.9, float("nan")]}),
        ("max_concentrations", {**good, "max_concentrations": [1.9, -1.0]}),
        ("max_concentrations", {**good, "max_concentrations": "1.9, 1.0"}),
        ("stain_matrix", {**good, "stain_matrix": [[0.5, 0.2, 0.1]] * 3}),
        ("stain_matrix", {**good, "stain_matrix": [[0.5, 0.2], [0.7, 0.8]]}),
        ("stain_matrix", {**good, "stain_matrix": [[0.5, 0.0], [0.7, 0.0], [0.4, 0.0]]}),
        ("stain_matrix", {**good, "stain_matrix": [[0.5, 0.2], [0.7, float("inf")], [0.4, 0.5]]}),
        ("io", {**good, "io": float("inf")}),
        ("io", {**good, "io": 300.0}),
        ("alpha", {**good, "alpha": True}),
        ("min_tissue", {**good, "min_tissue": "0.02"}),
        ("lab_std", {**reinhard, "lab_std": [0.6, 0.1, 0.0]}),
        ("lab_mean", {**reinhard, "lab_mean": [8.7, -0.1, 0.04, 0.0]}),
        ("stain_matrix", {**reinhard, "stain_matrix": good["stain_matrix"]}),
    ]
    return [pytest.param(key, record, id=f"{i}-{key}") for i, (key, record) in enumerate(cases)]


@pytest.mark.parametrize(("key", "record"), _bad_records())
def test_from_record_refuses_bad_records_naming_the_key(key, record):
    with pytest.raises(ValueError, match=key):
        StainNormalizer.from_record(record)


def test_constructor_refuses_the_other_methods_reference_and_bad_settings():
    with pytest.raises(ValueError, match="stain_matrix"):
        StainNormalizer("reinhard", stain_matrix=MACENKO_STAIN_MATRIX)
    with pytest.raises(ValueError, match="method"):
        StainNormalizer("vahadane")
    with pytest.raises(ValueError, match="alpha"):
        StainSettings(alpha=50.0)
    with pytest.raises(ValueError, match="max_gain"):
        StainSettings(max_gain=0.5)
    with pytest.raises(ValueError, match="not a mapping|mapping"):
        StainNormalizer.from_record([("method", "macenko")])


# --- export -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["macenko", "reinhard"])
def test_traced_module_matches_eager_for_any_batch_size(method):
    norm = StainNormalizer(method).eval()
    special = _special_tiles(32)
    example = torch.stack([_tile(RUIFROK, 1, size=32), special["white"]])
    with warnings.catch_warnings():  # torch.jit.trace is deprecated; the percentiles' topk size is fixed by H x W
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(norm, example)
    x = torch.stack([special["eosin_only"], _tile(PURPLE, 2, size=32), special["glass"], _tile(REF, 3, size=32)])
    assert (traced(x) - norm(x)).abs().max() < 1e-5


@pytest.mark.slow  # the export takes 5 to 15 s (Macenko's Jacobi sweeps are a few hundred nodes)
@pytest.mark.parametrize("method", ["macenko", "reinhard"])
def test_onnx_export_matches_eager(method, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    norm = StainNormalizer(method).eval()
    example = torch.stack([_tile(RUIFROK, 1, size=24), torch.ones(3, 24, 24)])
    batch = torch.export.Dim("batch")
    program = torch.onnx.export(norm, (example,), dynamo=True, verbose=False, dynamic_shapes={"images": {0: batch}})
    program.save(tmp_path / "stain.onnx")
    session = ort.InferenceSession(str(tmp_path / "stain.onnx"))
    x = torch.stack([_tile(PURPLE, 2, size=24), _tile(RUIFROK, 3, size=24, mix=(0, 0.9, 0, 0.1)), example[1]])
    (out,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    assert np.abs(out - norm(x).numpy()).max() < 1e-4


# --- torchstain, where installed ----------------------------------------------------------------------------------


def test_macenko_agrees_with_torchstain_on_a_tissue_tile():
    torchstain = pytest.importorskip("torchstain")
    tile = _tile(_unit([[0.60, 0.25], [0.70, 0.80], [0.38, 0.55]]), 13, size=96)  # an eosin that absorbs red too
    reference = torchstain.normalizers.MacenkoNormalizer(backend="torch")
    theirs, _, _ = reference.normalize(I=tile * 255, stains=False)  # (H, W, 3) int, Io=240, alpha=1, beta=0.15
    ours = StainNormalizer("macenko")(tile[None])[0]
    assert (ours - theirs.permute(2, 0, 1).float() / 255).abs().mean() < 0.02


def test_where_torchstain_fails_ours_returns_the_tile():
    # the claim of docs/models.md: torchstain 1.4 raises on a white tile; ours gives it back unchanged
    torchstain = pytest.importorskip("torchstain")
    white = torch.full((3, 64, 64), 0.97)
    with pytest.raises((IndexError, RuntimeError)):
        torchstain.normalizers.MacenkoNormalizer(backend="torch").normalize(I=white * 255, stains=False)
    assert torch.equal(StainNormalizer("macenko")(white[None])[0], white)
