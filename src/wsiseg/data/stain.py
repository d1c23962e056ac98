"""Stain normalisation of H&E tiles, batched in torch: Macenko and Reinhard, to a stored reference.

:class:`StainNormalizer` is an ``nn.Module`` that maps a batch of RGB tiles ``(B, 3, H, W)`` in ``[0, 1]`` to
the same tiles with the colour appearance of a reference, on whatever device the batch lives, so it runs in
the data path of training and prediction alike (and inside a model's ``forward``). The reference lives in
registered buffers, so it travels in the checkpoint's ``state_dict``; :meth:`StainNormalizer.record` and
:meth:`StainNormalizer.from_record` give it as plain values for a model record. :func:`fit_reference` computes
a reference from tiles (of one reference slide, or of several training centres).

Every tile is normalised on its own statistics; nothing loops over the batch or branches on the data in
Python (background pixels are masked, not indexed away; degenerate tiles are replaced with ``torch.where``), so
the module traces with ``torch.jit.trace`` and exports with ``torch.onnx.export(..., dynamo=True)``. Pixel-level
linear algebra is written as broadcast products, not matmuls, so autocast cannot drop it to half precision; the
3x3 eigenproblem is a fixed number of Jacobi sweeps (``torch.linalg.eigh`` has no ONNX export) and the
percentiles are ``topk`` plus a per-tile rank (``torch.quantile`` takes one rank for all tiles). A traced or
exported normaliser takes any batch size but keeps the tile size (H, W) it was traced with: the ``topk`` size
is the percentile's tail of H x W pixels.

Robustness, per tile:

- a tile with fewer tissue pixels than ``min_tissue`` of its pixels (at least 16) is returned unchanged, bit
  for bit: white background tiles, nearly empty edges, black padding. A pixel is tissue when its optical
  density averaged over the channels reaches ``beta`` (Macenko's code asks it of every channel, which drops
  pale eosin: eosin absorbs little red, so an eosin-only tile would count as background) and stays under 3
  (under 5% of the light: black padding, ink, not stain);
- near-white pixels (optical density below ``beta`` in every channel: glass) keep their colour, with a linear
  ramp to full normalisation at ``beta``, so the glass of a tissue tile is not tinted;
- no stain or colour channel is amplified more than ``max_gain`` times (a tile with almost no haematoxylin
  has a tiny haematoxylin percentile; Reinhard's standard deviation of a flat tile is near zero);
- Macenko only: when the two extreme stain directions of a tile are less than ``min_angle`` degrees apart (one
  stain only: eosin-only stroma, blood, dense lymphocytes) the plane is degenerate and the two "stains" would be
  two shades of one; the tile's single direction is then taken as the stain it is closest to (haematoxylin
  or eosin of the reference) and the other stain is the reference's, so the tile is recoloured, not split.

References:
    M. Macenko, M. Niethammer, J. S. Marron, D. Borland, J. T. Woosley, X. Guan, C. Schmitt, N. E. Thomas,
    "A method for normalizing histology slides for quantitative analysis", ISBI 2009, pp. 1107-1110.

    E. Reinhard, M. Ashikhmin, B. Gooch, P. Shirley, "Color transfer between images", IEEE Computer Graphics
    and Applications 21(5), 2001, pp. 34-41.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

METHODS = ("macenko", "reinhard")

# Macenko's reference: the H&E optical-density vectors (columns: haematoxylin, eosin; rows: R, G, B) and the
# 99th percentiles of their concentrations, as in Macenko's MATLAB code, HEnorm_python and torchstain.
MACENKO_STAIN_MATRIX = ((0.5626, 0.2159), (0.7201, 0.8012), (0.4062, 0.5581))
MACENKO_MAX_CONCENTRATIONS = (1.9705, 1.0308)

# Reinhard's reference: HistomicsTK's colour standard (the TCGA-A2-A3XS-DX1 region of Amgad et al. 2019,
# Bioinformatics 35(18)), per-channel mean and standard deviation in Ruderman's l-alpha-beta space as
# HistomicsTK computes it (natural log of LMS from 0..255 RGB).
REINHARD_MEAN = (8.74108109, -0.12440419, 0.0444982)
REINHARD_STD = (0.6135447, 0.10989545, 0.0286032)

# Reinhard et al.'s RGB -> LMS matrix and Ruderman's LMS (log) -> l-alpha-beta transform.
_RGB_TO_LMS = np.array([[0.3811, 0.5783, 0.0402], [0.1967, 0.7244, 0.0782], [0.0241, 0.1288, 0.8444]])
_LMS_TO_LAB = np.diag([3**-0.5, 6**-0.5, 2**-0.5]) @ np.array([[1.0, 1.0, 1.0], [1.0, 1.0, -2.0], [1.0, -1.0, 0.0]])

_MIN_TISSUE_PIXELS = 16  # below this a tile is never normalised, whatever min_tissue says
_MAX_TISSUE_OD = 3.0  # mean optical density above which a pixel is black padding or ink, not stain
_JACOBI_SWEEPS = 4  # cyclic Jacobi on 3x3 converges quadratically: 3 sweeps reach float32 precision, 1 spare
_REFERENCE_KEYS = {"macenko": ("stain_matrix", "max_concentrations"), "reinhard": ("lab_mean", "lab_std")}


@dataclass(frozen=True)
class StainSettings:
    """How tiles are measured; shared by both methods (``alpha`` and ``min_angle`` are Macenko's only).

    Args:
        io: transmitted light intensity of the background, on the 0..255 scale (Macenko's ``Io``).
        alpha: percentile (and 100 - alpha) of the stain angles taken as the extreme stain directions.
        beta: optical density (mean over the channels) from which a pixel counts as tissue; near-white pixels
            below it in every channel keep part of their colour.
        min_tissue: fraction of a tile's pixels that must be tissue for it to be normalised.
        max_gain: the most any stain concentration (Macenko) or colour channel's spread (Reinhard) is amplified.
        min_angle: degrees between the two extreme stain directions below which a tile has one stain only.
    """

    io: float = 240.0
    alpha: float = 1.0
    beta: float = 0.15
    min_tissue: float = 0.02
    max_gain: float = 3.0
    min_angle: float = 10.0

    def __post_init__(self) -> None:
        checks = {
            "io": (lambda v: 0 < v <= 255, "0 < io <= 255"),
            "alpha": (lambda v: 0 < v < 50, "0 < alpha < 50"),
            "beta": (lambda v: 0 < v <= 5, "0 < beta <= 5"),
            "min_tissue": (lambda v: 0 <= v <= 1, "0 <= min_tissue <= 1"),
            "max_gain": (lambda v: v >= 1, "max_gain >= 1"),
            "min_angle": (lambda v: 0 <= v < 90, "0 <= min_angle < 90"),
        }
        for name, (ok, rule) in checks.items():
            value = _number(name, getattr(self, name))
            if not ok(value):
                raise ValueError(f"{name}: {value} breaks {rule}")


class MacenkoEstimate(NamedTuple):
    """Per-tile Macenko statistics.

    Attributes:
        stain_matrix: (B, 3, 2) unit optical-density vectors, haematoxylin first.
        max_concentrations: (B, 2) 99th percentile of each stain's concentration over the tile's tissue.
        valid: (B,) the tile has enough tissue to be normalised.
        degenerate: (B,) the tile shows one stain only (its stain matrix holds one reference vector).
    """

    stain_matrix: Tensor
    max_concentrations: Tensor
    valid: Tensor
    degenerate: Tensor


class ReinhardEstimate(NamedTuple):
    """Per-tile Reinhard statistics.

    Attributes:
        mean: (B, 3) l-alpha-beta mean over the tile's tissue.
        std: (B, 3) l-alpha-beta standard deviation over the tile's tissue.
        valid: (B,) the tile has enough tissue to be normalised.
    """

    mean: Tensor
    std: Tensor
    valid: Tensor


class StainNormalizer(nn.Module):
    """Macenko or Reinhard stain normalisation of a batch of tiles towards a reference held in buffers.

    Only the chosen method's reference is registered, as persistent buffers (``stain_matrix`` (3, 2) and
    ``max_concentrations`` (2,), or ``lab_mean`` (3,) and ``lab_std`` (3,)), so a checkpoint of one method
    does not load silently into the other.

    Args:
        method: ``"macenko"`` or ``"reinhard"``.
        stain_matrix: Macenko's reference H&E optical-density vectors, 3 rows (R, G, B) of 2 (H, E);
            default Macenko's published ``HERef``.
        max_concentrations: Macenko's reference 99th-percentile concentrations (H, E); default ``maxCRef``.
        lab_mean: Reinhard's reference l-alpha-beta mean; default HistomicsTK's standard.
        lab_std: Reinhard's reference l-alpha-beta standard deviation; default HistomicsTK's standard.
        settings: how tiles are measured (:class:`StainSettings`).
    """

    def __init__(
        self,
        method: str = "macenko",
        *,
        stain_matrix: Sequence[Sequence[float]] | None = None,
        max_concentrations: Sequence[float] | None = None,
        lab_mean: Sequence[float] | None = None,
        lab_std: Sequence[float] | None = None,
        settings: StainSettings | None = None,
    ) -> None:
        super().__init__()
        if method not in METHODS:
            raise ValueError(f"method: {method!r} is not one of {METHODS}")
        given = {"stain_matrix": stain_matrix, "max_concentrations": max_concentrations}
        given.update(lab_mean=lab_mean, lab_std=lab_std)
        stray = [k for k, v in given.items() if v is not None and k not in _REFERENCE_KEYS[method]]
        if stray:
            raise ValueError(f"{', '.join(stray)}: not a reference of the {method} method")
        self.method = method
        self.settings = settings if settings is not None else StainSettings()
        if method == "macenko":
            matrix = _matrix("stain_matrix", MACENKO_STAIN_MATRIX if stain_matrix is None else stain_matrix)
            conc = MACENKO_MAX_CONCENTRATIONS if max_concentrations is None else max_concentrations
            conc = _vector("max_concentrations", conc, 2, positive=True)
            self.register_buffer("stain_matrix", torch.tensor(matrix, dtype=torch.float32))  # (3, 2)
            self.register_buffer("max_concentrations", torch.tensor(conc, dtype=torch.float32))  # (2,)
        else:
            mean = _vector("lab_mean", REINHARD_MEAN if lab_mean is None else lab_mean, 3)
            std = _vector("lab_std", REINHARD_STD if lab_std is None else lab_std, 3, positive=True)
            self.register_buffer("lab_mean", torch.tensor(mean, dtype=torch.float32))  # (3,)
            self.register_buffer("lab_std", torch.tensor(std, dtype=torch.float32))  # (3,)
            for name, value in _lab_matrices().items():
                self.register_buffer(name, value, persistent=False)  # (3, 3) colour-space constants

    def extra_repr(self) -> str:  # noqa: D102
        return f"method={self.method!r}, settings={self.settings}"

    def forward(self, images: Tensor) -> Tensor:
        """Normalise a batch of tiles.

        Args:
            images: (B, 3, H, W) RGB in [0, 1], any float dtype, on the module's device.

        Returns:
            (B, 3, H, W) normalised tiles in [0, 1], same dtype; tiles with too little tissue are unchanged.
        """
        rgb = _flatten(images)  # (B, 3, N) float32
        out, valid = self._macenko(rgb) if self.method == "macenko" else self._reinhard(rgb)  # (B, 3, N), (B,)
        out = torch.where(valid[:, None, None], out.clamp(0.0, 1.0), rgb)  # (B, 3, N)
        return out.reshape(images.shape).to(images.dtype)

    def estimate(self, images: Tensor) -> MacenkoEstimate | ReinhardEstimate:
        """Per-tile statistics of the method (what :meth:`forward` maps onto the reference).

        Args:
            images: (B, 3, H, W) RGB in [0, 1].

        Returns:
            A :class:`MacenkoEstimate` or a :class:`ReinhardEstimate`; values of tiles that are not ``valid``
            are the reference's.
        """
        rgb = _flatten(images)
        if self.method == "macenko":
            return self._macenko_estimate(rgb)[0]
        return self._reinhard_estimate(rgb)[0]

    def _macenko_estimate(self, rgb: Tensor) -> tuple[MacenkoEstimate, Tensor, Tensor]:
        """Stain matrix and 99th percentiles of each tile, with the optical density and concentrations."""
        s = self.settings
        od, tissue, valid = _tissue(rgb, s)  # (B, 3, N), (B, 1, N), (B,)
        count = tissue.sum(-1).to(od.dtype)  # (B, 1)
        plane = _principal_plane(_masked_covariance(od, tissue, count))  # (B, 3, 2)
        proj = _apply(plane.transpose(1, 2), od)  # (B, 2, N)
        phi = torch.atan2(proj[:, 1:2], proj[:, 0:1])  # (B, 1, N)
        lo = _masked_percentile(phi, tissue, count, s.alpha)[:, 0]  # (B,)
        hi = _masked_percentile(phi, tissue, count, 100.0 - s.alpha)[:, 0]  # (B,)
        v_lo = plane[:, :, 0] * torch.cos(lo)[:, None] + plane[:, :, 1] * torch.sin(lo)[:, None]  # (B, 3)
        v_hi = plane[:, :, 0] * torch.cos(hi)[:, None] + plane[:, :, 1] * torch.sin(hi)[:, None]  # (B, 3)
        degenerate = (hi - lo) < math.radians(s.min_angle)  # (B,)
        stains = _order_stains(v_lo, v_hi, degenerate, self.stain_matrix)  # (B, 3, 2)
        stains = torch.where(valid[:, None, None], stains, self.stain_matrix)
        conc = _apply(_pseudo_inverse(stains), od)  # (B, 2, N)
        max_conc = _masked_percentile(conc, tissue, count, 99.0)  # (B, 2)
        max_conc = torch.where(valid[:, None], max_conc, self.max_concentrations)
        return MacenkoEstimate(stains, max_conc, valid, degenerate & valid), od, conc

    def _macenko(self, rgb: Tensor) -> tuple[Tensor, Tensor]:
        """Macenko-normalised tiles (B, 3, N), before the per-tile fallback, and the tiles to normalise (B,)."""
        s = self.settings
        est, od, conc = self._macenko_estimate(rgb)
        floor = self.max_concentrations / s.max_gain  # (2,)
        scale = self.max_concentrations / torch.maximum(est.max_concentrations, floor)  # (B, 2)
        od_out = _apply(self.stain_matrix[None], conc * scale[:, :, None])  # (B, 3, N)
        out = (s.io / 255.0) * torch.exp(-od_out)
        return _keep_glass(rgb, out, od, s.beta), est.valid

    def _reinhard_estimate(self, rgb: Tensor) -> tuple[ReinhardEstimate, Tensor, Tensor, Tensor]:
        """l-alpha-beta mean and standard deviation of each tile, with the optical density and log LMS.

        l-alpha-beta is linear in log LMS, so its statistics come from log LMS's mean and covariance and the
        l-alpha-beta image itself is never formed.
        """
        od, tissue, valid = _tissue(rgb, self.settings)  # (B, 3, N), (B, 1, N), (B,)
        count = tissue.sum(-1).to(od.dtype).clamp(min=1.0)  # (B, 1)
        log_lms = torch.log(_apply(self.rgb_to_lms[None] * 255.0, rgb).clamp(min=1.0))  # (B, 3, N)
        log_mean = (log_lms * tissue).sum(-1) / count  # (B, 3)
        to_lab = self.lms_to_lab[None]  # (1, 3, 3)
        cov = _matmul_small(_matmul_small(to_lab, _masked_covariance(log_lms, tissue, count)), to_lab.transpose(1, 2))
        mean = (to_lab * log_mean[:, None, :]).sum(-1)  # (B, 3)
        std = cov.diagonal(dim1=1, dim2=2).clamp(min=0.0).sqrt()  # (B, 3)
        mean = torch.where(valid[:, None], mean, self.lab_mean)
        std = torch.where(valid[:, None], std, self.lab_std)
        return ReinhardEstimate(mean, std, valid), od, log_lms, count

    def _reinhard(self, rgb: Tensor) -> tuple[Tensor, Tensor]:
        """Reinhard-normalised tiles (B, 3, N), before the per-tile fallback, and the tiles to normalise (B,).

        ``lab' = gain * (lab - mean) + lab_mean`` channel by channel, composed with the colour-space matrices
        into one affine map of log LMS per tile.
        """
        s = self.settings
        est, od, log_lms, _ = self._reinhard_estimate(rgb)
        gain = self.lab_std / torch.maximum(est.std, self.lab_std / s.max_gain)  # (B, 3)
        to_lms = self.lab_to_lms[None]  # (1, 3, 3)
        affine = _matmul_small(to_lms * gain[:, None, :], self.lms_to_lab[None].expand_as(to_lms))  # (B, 3, 3)
        shift = (to_lms * (self.lab_mean - gain * est.mean)[:, None, :]).sum(-1)  # (B, 3)
        lms = torch.exp(_apply(affine, log_lms) + shift[:, :, None])  # (B, 3, N)
        out = _apply(self.lms_to_rgb[None] / 255.0, lms)
        return _keep_glass(rgb, out, od, s.beta), est.valid

    def fit(self, images: Tensor | Iterable[Tensor]) -> StainNormalizer:
        """A new normaliser of this method and settings whose reference is computed from ``images``.

        Args:
            images: a (B, 3, H, W) batch in [0, 1], or an iterable of such batches.

        Returns:
            The fitted :class:`StainNormalizer` (on the CPU).
        """
        return fit_reference(self.method, images, self.settings)

    def record(self) -> dict:
        """The normaliser as plain values (for a model record): the method, its reference and the settings.

        Returns:
            ``{"method": ..., <reference keys>: lists of floats, <settings>: floats}``.
        """
        out: dict = {"method": self.method}
        for key in _REFERENCE_KEYS[self.method]:
            out[key] = _plain(getattr(self, key).detach().cpu().numpy())
        out.update({k: float(v) for k, v in asdict(self.settings).items()})
        return out

    @classmethod
    def from_record(cls, record: Mapping) -> StainNormalizer:
        """Rebuild a normaliser from :meth:`record`'s values, refusing anything else.

        Args:
            record: the mapping :meth:`record` returned.

        Returns:
            The :class:`StainNormalizer`.

        Raises:
            ValueError: naming the key, for a missing or unknown key, a wrong length or a non-finite value.
        """
        if not isinstance(record, Mapping):
            raise ValueError(f"stain record: expected a mapping, got {type(record).__name__}")
        method = record.get("method")
        if method not in METHODS:
            raise ValueError(f"method: {method!r} is not one of {METHODS}")
        setting_keys = tuple(f.name for f in fields(StainSettings))
        expected = ("method", *_REFERENCE_KEYS[method], *setting_keys)
        unknown = sorted(set(record) - set(expected), key=str)
        if unknown:
            raise ValueError(f"{', '.join(map(str, unknown))}: unknown key(s) in a {method} stain record")
        missing = [k for k in expected if k not in record]
        if missing:
            raise ValueError(f"{', '.join(missing)}: missing from the {method} stain record")
        settings = StainSettings(**{k: _number(k, record[k]) for k in setting_keys})
        reference = {k: record[k] for k in _REFERENCE_KEYS[method]}
        return cls(method, settings=settings, **reference)


def fit_reference(
    method: str, images: Tensor | Iterable[Tensor], settings: StainSettings | None = None
) -> StainNormalizer:
    """Compute a reference from tiles: those of a reference slide, or of several training centres.

    Each tile is measured as :meth:`StainNormalizer.forward` measures it, and the reference is the
    typical tile: the 10%-trimmed mean over tiles of the per-tile statistics (Macenko: the stain vectors,
    renormalised, and the 99th-percentile concentrations; Reinhard: the l-alpha-beta means and standard
    deviations). Tiles with too little tissue, and (Macenko) tiles with one stain only, are left out. A
    per-tile reference rather than one pooled over all pixels because each tile is later mapped onto it on
    its own: pooled percentiles would give the most extreme stain hues of all centres, pooled spreads the
    spread between tiles.

    Args:
        method: ``"macenko"`` or ``"reinhard"``.
        images: a (B, 3, H, W) batch in [0, 1], or an iterable of such batches (on any device).
        settings: how tiles are measured; default :class:`StainSettings`'s.

    Returns:
        A :class:`StainNormalizer` (on the CPU) holding the fitted reference and ``settings``.

    Raises:
        ValueError: for an unknown method, or when no tile can be measured.
    """
    probe = StainNormalizer(method, settings=settings)
    batches = [images] if isinstance(images, Tensor) else images
    rows: list[list[Tensor]] = []
    with torch.no_grad():
        for batch in batches:
            est = probe.to(batch.device).estimate(batch)
            keep = est.valid if method == "reinhard" else est.valid & ~est.degenerate
            rows.append([t[keep].double().cpu() for t in est[:2]])
    if not rows or sum(len(r[0]) for r in rows) == 0:
        raise ValueError("fit_reference: no tile has enough tissue (and, for macenko, two stains) to measure")
    first, second = (_trimmed_mean(torch.cat(parts)) for parts in zip(*rows, strict=True))
    if method == "reinhard":
        return StainNormalizer(method, lab_mean=first.tolist(), lab_std=second.tolist(), settings=probe.settings)
    first = first / first.norm(dim=0, keepdim=True)
    if first[0, 0] < first[0, 1]:  # haematoxylin first, as within each tile
        first, second = first.flip(1), second.flip(0)
    return StainNormalizer(
        method, stain_matrix=first.tolist(), max_concentrations=second.tolist(), settings=probe.settings
    )


def _flatten(images: Tensor) -> Tensor:
    """(B, 3, H, W) any float dtype -> (B, 3, H*W) float32."""
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"images: expected (B, 3, H, W), got {tuple(images.shape)}")
    return images.flatten(2).float()


def _tissue(rgb: Tensor, s: StainSettings) -> tuple[Tensor, Tensor, Tensor]:
    """Optical density (B, 3, N), tissue mask (B, 1, N) and the tiles with enough tissue (B,)."""
    od = math.log(s.io / 255.0) - torch.log(rgb.clamp(min=1.0 / 255.0))  # (B, 3, N)
    mean_od = od.mean(dim=1, keepdim=True)  # (B, 1, N)
    tissue = (mean_od >= s.beta) & (mean_od <= _MAX_TISSUE_OD)  # (B, 1, N)
    share = tissue.to(od.dtype).mean(dim=(1, 2))  # (B,) fraction of tissue pixels
    valid = (share >= s.min_tissue) & (tissue.sum(dim=(1, 2)) >= _MIN_TISSUE_PIXELS)  # (B,)
    return od, tissue, valid


def _keep_glass(rgb: Tensor, out: Tensor, od: Tensor, beta: float) -> Tensor:
    """Blend back the original colour of near-white pixels: weight 0 at optical density 0, 1 from ``beta``."""
    weight = (od.amax(dim=1, keepdim=True) / beta).clamp(0.0, 1.0)  # (B, 1, N)
    return rgb + weight * (out - rgb)


def _apply(matrix: Tensor, x: Tensor) -> Tensor:
    """``matrix @ x`` for (B|1, K, J) by (B, J, N) as broadcast products: autocast leaves these in float32."""
    out = matrix[:, :, 0:1] * x[:, None, 0]
    for j in range(1, matrix.shape[-1]):
        out = out + matrix[:, :, j : j + 1] * x[:, None, j]
    return out  # (B, K, N)


def _matmul_small(a: Tensor, b: Tensor) -> Tensor:
    """(B, I, K) @ (B, K, J) for tiny matrices, as a broadcast product (no matmul kernel, no autocast)."""
    return (a[:, :, :, None] * b[:, None, :, :]).sum(dim=2)


def _masked_covariance(od: Tensor, tissue: Tensor, count: Tensor) -> Tensor:
    """(B, 3, 3) covariance of the tissue pixels' optical density."""
    weight = tissue.to(od.dtype)  # (B, 1, N)
    count = count.clamp(min=1.0)
    mean = (od * weight).sum(-1, keepdim=True) / count[:, :, None]  # (B, 3, 1)
    centred = (od - mean) * weight  # (B, 3, N), zero off tissue
    rows = [(centred[:, i : i + 1] * centred).sum(-1) for i in range(3)]  # 3 x (B, 3)
    return torch.stack(rows, dim=1) / count[:, :, None]  # (B, 3, 3)


def _principal_plane(cov: Tensor) -> Tensor:
    """Eigenvectors (B, 3, 2) of the two largest eigenvalues of symmetric (B, 3, 3) matrices (Jacobi sweeps).

    Cyclic Jacobi on the six distinct entries, each a (B,) tensor, and the eigenvector columns, each (B, 3):
    plain elementwise ops, so it traces and exports (``torch.linalg.eigh`` has no ONNX export). The first
    vector is turned to point into positive optical density, so the stain angles stay in (-pi/2, pi/2).
    """
    a = {(i, j): cov[:, i, j] for i in range(3) for j in range(i, 3)}  # upper triangle, (B,) each
    one, nil = torch.ones_like(a[0, 0]), torch.zeros_like(a[0, 0])  # no factory: no device baked into a trace
    v = [torch.stack([one if r == k else nil for r in range(3)], dim=1) for k in range(3)]  # columns, (B, 3)
    for _ in range(_JACOBI_SWEEPS):
        for p, q, r in ((0, 1, 2), (0, 2, 1), (1, 2, 0)):
            _jacobi_rotate(a, v, p, q, r)
    values = torch.stack([a[0, 0], a[1, 1], a[2, 2]], dim=1)  # (B, 3)
    vectors = torch.stack(v, dim=2)  # (B, 3, 3), columns
    top = torch.topk(values, 2, dim=1).indices  # (B, 2), largest first
    plane = vectors.gather(2, top[:, None, :].expand(-1, 3, -1))  # (B, 3, 2)
    sign = torch.where(plane[:, :, 0].sum(1) < 0, -1.0, 1.0)  # (B,)
    return torch.stack([plane[:, :, 0] * sign[:, None], plane[:, :, 1]], dim=2)


def _jacobi_rotate(a: dict, v: list, p: int, q: int, r: int) -> None:
    """One Jacobi rotation zeroing ``a[p, q]``, in place on the entries and the columns.

    ``t = tan(angle) = 2 a_pq sgn(tau) / (|tau| + hypot(tau, 2 a_pq))`` with ``tau = a_qq - a_pp``: the usual
    smaller root, written without a division by ``a_pq`` so an already diagonal matrix gets ``t = 0``.
    """
    apq, tau = a[p, q], a[q, q] - a[p, p]
    hypot = torch.sqrt(tau * tau + 4.0 * apq * apq)
    t = 2.0 * apq * torch.where(tau >= 0, 1.0, -1.0) / (tau.abs() + hypot + 1e-30)
    c = torch.rsqrt(t * t + 1.0)
    s = t * c
    rp, rq = (min(r, p), max(r, p)), (min(r, q), max(r, q))
    arp, arq, shift = a[rp], a[rq], t * apq
    a[p, p], a[q, q], a[p, q] = a[p, p] - shift, a[q, q] + shift, apq - apq
    a[rp], a[rq] = c * arp - s * arq, s * arp + c * arq
    v[p], v[q] = c[:, None] * v[p] - s[:, None] * v[q], s[:, None] * v[p] + c[:, None] * v[q]


def _masked_percentile(values: Tensor, mask: Tensor, count: Tensor, q: float) -> Tensor:
    """Per-row ``q``-th percentile (nearest rank, as torchstain's) of the masked entries of (B, K, N) -> (B, K).

    Only the tail that holds the rank is sorted (``topk``); the rank depends on each tile's tissue count.
    """
    total = values.shape[-1]
    upper = q >= 50.0
    tail = (100.0 - q) if upper else q
    k = min(total, math.floor(tail / 100.0 * (total - 1) + 0.5) + 2)
    filled = torch.where(mask, values, -1e9 if upper else 1e9)  # (B, K, N)
    head = torch.topk(filled, k, dim=-1, largest=upper).values  # (B, K, k)
    rank = torch.round(q / 100.0 * (count - 1.0))  # (B, 1), from the bottom
    rank = (count - 1.0 - rank) if upper else rank
    index = rank.clamp(0, k - 1).long()[:, :, None].expand(-1, values.shape[1], -1)  # (B, K, 1)
    return head.gather(-1, index)[:, :, 0]


def _order_stains(v_lo: Tensor, v_hi: Tensor, degenerate: Tensor, reference: Tensor) -> Tensor:
    """(B, 3, 2) stain matrix from the two extreme directions, haematoxylin (larger red density) first.

    For a degenerate tile (one stain) the single direction replaces the reference stain it is closest to.
    """
    h_first = (v_lo[:, 0] > v_hi[:, 0])[:, None]  # (B, 1)
    stains = torch.stack([torch.where(h_first, v_lo, v_hi), torch.where(h_first, v_hi, v_lo)], dim=2)
    single = v_lo + v_hi
    single = single / single.norm(dim=1, keepdim=True).clamp(min=1e-12)  # (B, 3)
    ref_h, ref_e = reference[:, 0] / reference[:, 0].norm(), reference[:, 1] / reference[:, 1].norm()
    is_h = ((single * ref_h).sum(1) > (single * ref_e).sum(1))[:, None]  # (B, 1)
    h = torch.where(is_h, single, reference[:, 0])
    e = torch.where(is_h, reference[:, 1], single)
    return torch.where(degenerate[:, None, None], torch.stack([h, e], dim=2), stains)


def _pseudo_inverse(stains: Tensor) -> Tensor:
    """(B, 2, 3) least-squares inverse of (B, 3, 2) stain matrices, in closed form."""
    st = stains.transpose(1, 2)  # (B, 2, 3)
    gram = _matmul_small(st, stains)  # (B, 2, 2)
    g00, g01, g11 = gram[:, 0, 0], gram[:, 0, 1], gram[:, 1, 1]
    det = (g00 * g11 - g01 * g01).clamp(min=1e-6)
    inverse = torch.stack([torch.stack([g11, -g01], -1), torch.stack([-g01, g00], -1)], 1) / det[:, None, None]
    return _matmul_small(inverse, st)


def _lab_matrices() -> dict[str, Tensor]:
    """Reinhard's colour-space matrices as float32 tensors (inverses computed in float64)."""
    mats = {"rgb_to_lms": _RGB_TO_LMS, "lms_to_lab": _LMS_TO_LAB}
    mats.update(lab_to_lms=np.linalg.inv(_LMS_TO_LAB), lms_to_rgb=np.linalg.inv(_RGB_TO_LMS))
    return {k: torch.tensor(v, dtype=torch.float32) for k, v in mats.items()}


def _trimmed_mean(x: Tensor, trim: float = 0.1) -> Tensor:
    """Mean over dim 0 of (T, ...) after dropping the ``trim`` fraction at each end, per entry."""
    cut = int(trim * x.shape[0])
    ordered = x.sort(dim=0).values
    return ordered[cut : x.shape[0] - cut].mean(dim=0)


def _number(name: str, value: object) -> float:
    """A finite real number, or ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name}: expected a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name}: {value} is not finite")
    return float(value)


def _vector(name: str, value: object, length: int, positive: bool = False) -> list[float]:
    """A list of ``length`` finite numbers (all > 0 with ``positive``), or ValueError naming ``name``."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (Sequence, np.ndarray, Tensor)):
        raise ValueError(f"{name}: expected a list of {length} numbers, got {value!r}")
    items = list(value.tolist() if isinstance(value, (np.ndarray, Tensor)) else value)
    if len(items) != length:
        raise ValueError(f"{name}: expected {length} numbers, got {len(items)}")
    numbers = [_number(name, v) for v in items]
    if positive and min(numbers) <= 0:
        raise ValueError(f"{name}: every value must be > 0, got {numbers}")
    return numbers


def _matrix(name: str, value: object) -> list[list[float]]:
    """A 3x2 stain matrix (rows R, G, B; columns H, E) of finite numbers with non-zero columns."""
    if isinstance(value, (np.ndarray, Tensor)):
        value = value.tolist()
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence) or len(value) != 3:
        raise ValueError(f"{name}: expected 3 rows (R, G, B) of 2 numbers (H, E), got {value!r}")
    rows = [_vector(name, row, 2) for row in value]
    norms = np.linalg.norm(np.array(rows), axis=0)
    if norms.min() < 1e-6:
        raise ValueError(f"{name}: a stain vector (column) is zero: {rows}")
    return rows


def _plain(values: np.ndarray) -> list:
    """float32 array -> nested lists of the shortest floats that give the same float32 back."""
    if values.ndim > 1:
        return [_plain(row) for row in values]
    return [float(str(np.float32(v))) for v in values]
