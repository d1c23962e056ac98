"""What a synthetic cohort looks like: the preset's numbers, and the five CAMELYON17-like centres."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

from wsiseg.labels import ITC_MAX_CELLS, ITC_MAX_MM, MICRO_MAX_MM, PatientStage
from wsiseg.slide.writer import MppStorage


@dataclass(frozen=True)
class Centre:
    """One scanning centre: its scanner's pixel spacing, how the file stores it, and its staining habits.

    Attributes:
        scanner: the scanner the centre's real counterpart used.
        mpp: the scanner's level-0 micrometres per pixel (before the preset's ``mpp_scale``).
        mpp_storage: where the file keeps the spacing (TIFF tags, or only a Philips-style description).
        hematoxylin_rgb: optical density of one unit of hematoxylin (near Macenko's reference vectors).
        eosin_rgb: optical density of one unit of eosin.
        stain_strength: (hematoxylin, eosin) concentration multipliers.
        background_rgb: the glass colour.
    """

    scanner: str
    mpp: float
    mpp_storage: MppStorage
    hematoxylin_rgb: tuple[float, float, float]
    eosin_rgb: tuple[float, float, float]
    stain_strength: tuple[float, float]
    background_rgb: tuple[int, int, int]


#: Centres 0-4 of CAMELYON17 (patients 000-019 centre 0, 020-039 centre 1, ...), with distinct stain looks.
CAMELYON17_CENTRES: tuple[Centre, ...] = (
    Centre("3DHistech P250", 0.243, "tags", (0.56, 0.72, 0.41), (0.22, 0.80, 0.56), (1.00, 1.00), (242, 241, 243)),
    Centre("3DHistech P250", 0.243, "tags", (0.52, 0.74, 0.43), (0.26, 0.78, 0.57), (1.15, 0.85), (238, 236, 240)),
    Centre(
        "Hamamatsu XR C12740",
        0.226,
        "tags",
        (0.62, 0.70, 0.36),
        (0.18, 0.84, 0.51),
        (0.90, 1.20),
        (245, 243, 240),
    ),
    Centre(
        "3DHistech P1000",
        0.243,
        "tags",
        (0.55, 0.75, 0.37),
        (0.24, 0.76, 0.60),
        (1.05, 0.95),
        (236, 238, 238),
    ),
    Centre(
        "Philips IntelliSite",
        0.25,
        "philips",
        (0.58, 0.68, 0.45),
        (0.20, 0.82, 0.54),
        (0.95, 1.10),
        (244, 244, 246),
    ),
)

#: Patient stages of the CAMELYON17 training set (100 patients), the default stage mix.
CAMELYON17_STAGE_COUNTS: dict[PatientStage, int] = {
    "pN0": 25,
    "pN0(i+)": 11,
    "pN1mi": 21,
    "pN1": 30,
    "pN2": 13,
}


#: The cut-offs (mm) between the size classes (:mod:`wsiseg.labels`): itc < ITC_MAX_MM <= micro < MICRO_MAX_MM <= macro.
CUTOFFS_MM = (ITC_MAX_MM, MICRO_MAX_MM)
#: Guard (mm, a pixel or two) that keeps a lesion drawn "at" a cut-off strictly on its label's side.
CUTOFF_GUARD_MM = 0.002


@dataclass(frozen=True)
class LesionLook:
    """How metastases are drawn (the ``hard`` preset's lesion knobs; the defaults are the demo's look).

    Attributes:
        sizes: ``bands``: the main lesion's diameter is uniform in :attr:`CohortSpec.lesion_mm`, whose ranges
            keep clear of the cut-offs; ``continuous``: log-uniform over ranges that touch the cut-offs.
        near_cutoff_share: ``continuous`` only: share of lesions drawn within 10% of a cut-off, on their
            label's side (ITC just under :data:`~wsiseg.labels.ITC_MAX_MM`, micro just over it or just under
            :data:`~wsiseg.labels.MICRO_MAX_MM`, macro just over that).
        itc_style: ``disc``: an ITC is a small compact lesion; ``scattered``: single tumour cells and loose
            clusters of fewer than :data:`~wsiseg.labels.ITC_MAX_CELLS` cells among the lymphocytes, annotated
            by the outline around them.
        itc_cells: (min, max) tumour cells of a scattered ITC (log-uniform; capped by what fits its size).
        sinus_share: share of scattered ITCs placed in the subcapsular sinus (a band under the section's edge).
        micro_border: ``smooth`` or ``infiltrative`` (jagged outlines with finger-like protrusions).
        tumour_radius_um: (min, max) tumour nucleus radius.
        tumour_ink: (min, max) hematoxylin load of a tumour nucleus (lymphocytes: 1.0-1.4).
        tumour_density_per_mm2: tumour nuclei per mm^2 inside a lesion.
    """

    sizes: Literal["bands", "continuous"] = "bands"
    near_cutoff_share: float = 0.0
    itc_style: Literal["disc", "scattered"] = "disc"
    itc_cells: tuple[int, int] = (1, 150)
    sinus_share: float = 0.5
    micro_border: Literal["smooth", "infiltrative"] = "smooth"
    tumour_radius_um: tuple[float, float] = (4.5, 8.5)
    tumour_ink: tuple[float, float] = (0.6, 1.1)
    tumour_density_per_mm2: float = 3200.0

    def __post_init__(self) -> None:
        """Validate the choices and ranges."""
        for name in ("itc_cells", "tumour_radius_um", "tumour_ink"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.sizes not in ("bands", "continuous") or self.itc_style not in ("disc", "scattered"):
            raise ValueError(f"sizes is bands | continuous, itc_style disc | scattered; got {self}")
        if self.micro_border not in ("smooth", "infiltrative"):
            raise ValueError(f"micro_border is smooth | infiltrative, got {self.micro_border!r}")
        if not (1 <= self.itc_cells[0] <= self.itc_cells[1] < ITC_MAX_CELLS):
            raise ValueError(
                f"itc_cells must lie in 1..{ITC_MAX_CELLS - 1} (an ITC has fewer than {ITC_MAX_CELLS} cells), "
                f"got {self.itc_cells}"
            )
        if not 0 <= self.near_cutoff_share <= 1 or not 0 <= self.sinus_share <= 1:
            raise ValueError("near_cutoff_share and sinus_share are fractions in [0, 1]")


@dataclass(frozen=True)
class Mimics:
    """Benign look-alikes of tumour, each at a rate per mm^2 of tissue (0: none, the demo's default).

    Attributes:
        histiocyte_clusters_per_mm2: groups of sinus histiocytes (large pale nuclei in abundant pink cytoplasm).
        histiocytes_per_cluster: (min, max) cells per group.
        germinal_centres_per_mm2: secondary follicles: a dense mantle around a pale germinal centre of large
            centroblast nuclei.
        hev_per_mm2: high endothelial venules: rings of plump endothelial nuclei around a lumen with red cells.
    """

    histiocyte_clusters_per_mm2: float = 0.0
    histiocytes_per_cluster: tuple[int, int] = (4, 30)
    germinal_centres_per_mm2: float = 0.0
    hev_per_mm2: float = 0.0

    def __post_init__(self) -> None:
        """Validate the rates."""
        object.__setattr__(self, "histiocytes_per_cluster", tuple(self.histiocytes_per_cluster))
        if min(self.histiocyte_clusters_per_mm2, self.germinal_centres_per_mm2, self.hev_per_mm2) < 0:
            raise ValueError(f"mimic rates are per mm^2 and must be >= 0, got {self}")


@dataclass(frozen=True)
class CentreShift:
    """How far the centres' staining departs from :data:`CAMELYON17_CENTRES` (0: exactly those).

    Attributes:
        spread: log-normal SD of each centre's stain strengths, and 0.3x it the SD added to its stain vectors
            (0.25 spreads the centres' mean tissue colours over ~40 grey levels, as the five real centres differ).
        slide_jitter: the same, per slide, around its centre's stains.
    """

    spread: float = 0.0
    slide_jitter: float = 0.0

    def __post_init__(self) -> None:
        """Validate the spreads."""
        if self.spread < 0 or self.slide_jitter < 0:
            raise ValueError(f"stain spreads must be >= 0, got {self}")


@dataclass(frozen=True)
class Artefacts:
    """Preparation and scanning artefacts beyond the demo's pen marks, blur and debris (0: none).

    Attributes:
        fold_probability: chance a slide has a tissue fold (a band of doubled, darker tissue).
        bubble_probability: chance a slide has air bubbles (dark rims, paler inside).
        illumination: amplitude of uneven illumination (a smooth gain field of 1 +- this over the slide).
        blur_zones: (min, max) out-of-focus patches on a slide that has blur.
    """

    fold_probability: float = 0.0
    bubble_probability: float = 0.0
    illumination: float = 0.0
    blur_zones: tuple[int, int] = (1, 1)

    def __post_init__(self) -> None:
        """Validate the probabilities."""
        object.__setattr__(self, "blur_zones", tuple(self.blur_zones))
        if not (0 <= self.fold_probability <= 1 and 0 <= self.bubble_probability <= 1 and 0 <= self.illumination < 1):
            raise ValueError(f"artefact probabilities are in [0, 1] and illumination in [0, 1), got {self}")


def _record(kind: type, value: Any) -> Any:
    """``value`` as a ``kind`` record (YAML gives mappings)."""
    return value if isinstance(value, kind) else kind(**dict(value or {}))


#: The knob groups of :class:`CohortSpec` and their record types.
KNOB_GROUPS: dict[str, type] = {
    "lesions": LesionLook,
    "mimics": Mimics,
    "centre_shift": CentreShift,
    "artefacts": Artefacts,
}


@dataclass(frozen=True)
class CohortSpec:
    """A synthetic cohort preset (``conf/synth/*.yaml``); all sizes physical, in millimetres.

    Attributes:
        name: preset name (``tiny``, ``demo``, ``camelyon``).
        n_patients: CAMELYON17-style patients (5 nodes each), spread over the centres in blocks.
        n_centres: how many of :data:`CAMELYON17_CENTRES` to use.
        mpp_scale: multiplies every scanner's mpp (8 turns 0.243 into 1.944 um/px) so slides stay small.
        slide_size_mm: (width, height) of the scanned area; each slide varies it by +-10%.
        tissue_pieces: (min, max) tissue sections per slide.
        tissue_fill: fraction of a piece's slot its ellipse spans (lower: more background).
        lesion_mm: longest-diameter ranges per label: clear of the :data:`CUTOFFS_MM` with
            ``lesions.sizes=bands``, touching them with ``continuous``.
        follicles_per_mm2: lymphoid follicles (dense small nuclei) per mm^2 of tissue, a tumour look-alike.
        fat_holes_per_mm2: fat vacuoles per mm^2 of tissue.
        pen_probability: chance a slide carries a pen mark.
        blur_probability: chance a slide has an out-of-focus patch.
        debris_per_slide: (min, max) dark specks on the glass.
        tile: TIFF tile side.
        jpeg_quality: JPEG quality of the tiles.
        camelyon16_tumor: CAMELYON16-style ``tumor_NNN.tif`` slides (groups ``_0``/``_1``/``_2``).
        camelyon16_normal: CAMELYON16-style ``normal_NNN.tif`` slides.
        stage_counts: relative patient-stage frequencies.
        lesions: how metastases look (:class:`LesionLook`).
        mimics: benign tumour look-alikes (:class:`Mimics`).
        centre_shift: stain differences between and within centres (:class:`CentreShift`).
        artefacts: folds, bubbles, uneven illumination, blur zones (:class:`Artefacts`).
    """

    name: str
    n_patients: int
    mpp_scale: float
    slide_size_mm: tuple[float, float]
    n_centres: int = 5
    tissue_pieces: tuple[int, int] = (1, 3)
    tissue_fill: float = 0.85
    lesion_mm: dict[str, tuple[float, float]] = field(
        default_factory=lambda: {"itc": (0.05, 0.17), "micro": (0.3, 1.7), "macro": (2.3, 3.6)}
    )
    follicles_per_mm2: float = 0.25
    fat_holes_per_mm2: float = 2.0
    pen_probability: float = 0.25
    blur_probability: float = 0.2
    debris_per_slide: tuple[int, int] = (0, 8)
    tile: int = 256
    jpeg_quality: int = 85
    camelyon16_tumor: int = 0
    camelyon16_normal: int = 0
    stage_counts: dict[str, int] = field(default_factory=lambda: dict(CAMELYON17_STAGE_COUNTS))
    lesions: LesionLook = field(default_factory=LesionLook)
    mimics: Mimics = field(default_factory=Mimics)
    centre_shift: CentreShift = field(default_factory=CentreShift)
    artefacts: Artefacts = field(default_factory=Artefacts)

    def __post_init__(self) -> None:
        """Normalise containers coming from YAML (lists, mappings) into tuples and records; validate ranges."""
        for name in ("slide_size_mm", "tissue_pieces", "debris_per_slide"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "lesion_mm", {k: tuple(v) for k, v in dict(self.lesion_mm).items()})
        object.__setattr__(self, "stage_counts", dict(self.stage_counts))
        for name, kind in KNOB_GROUPS.items():
            object.__setattr__(self, name, _record(kind, getattr(self, name)))
        if not 1 <= self.n_centres <= len(CAMELYON17_CENTRES):
            raise ValueError(f"n_centres must be 1..{len(CAMELYON17_CENTRES)}, got {self.n_centres}")
        itc, micro, macro = (self.lesion_mm[k] for k in ("itc", "micro", "macro"))
        cutoffs = f"{ITC_MAX_MM} / {MICRO_MAX_MM} mm cut-offs"
        if self.lesions.sizes == "bands" and not (
            itc[1] < ITC_MAX_MM < micro[0] and micro[1] < MICRO_MAX_MM < macro[0]
        ):
            raise ValueError(f"lesion sizes must keep clear of the {cutoffs}, got {self.lesion_mm}")
        if not (0 < itc[0] < itc[1] <= ITC_MAX_MM <= micro[0] < micro[1] <= MICRO_MAX_MM <= macro[0] < macro[1]):
            raise ValueError(f"lesion sizes must stay on their side of the {cutoffs}, got {self.lesion_mm}")

    def record(self) -> dict[str, Any]:
        """The preset as JSON-ready values; knob groups left at their defaults are omitted (older cohorts match)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in KNOB_GROUPS:
                if value == KNOB_GROUPS[f.name]():
                    continue
                value = {g.name: getattr(value, g.name) for g in fields(value)}
            out[f.name] = value
        return out

    def centre(self, index: int) -> Centre:
        """The centre of index ``index`` (0-based)."""
        return CAMELYON17_CENTRES[index]

    def centre_mpp(self, index: int) -> float:
        """Level-0 um/px of the centre's slides in this preset."""
        return CAMELYON17_CENTRES[index].mpp * self.mpp_scale
