"""What a synthetic cohort looks like: the preset's numbers, and the five CAMELYON17-like centres."""

from __future__ import annotations

from dataclasses import dataclass, field

from wsiseg.labels import PatientStage
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
        lesion_mm: longest-diameter ranges per label, kept clear of the 0.2 / 2.0 mm cut-offs.
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

    def __post_init__(self) -> None:
        """Normalise containers coming from YAML (lists) into tuples and validate ranges."""
        for name in ("slide_size_mm", "tissue_pieces", "debris_per_slide"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "lesion_mm", {k: tuple(v) for k, v in dict(self.lesion_mm).items()})
        object.__setattr__(self, "stage_counts", dict(self.stage_counts))
        if not 1 <= self.n_centres <= len(CAMELYON17_CENTRES):
            raise ValueError(f"n_centres must be 1..{len(CAMELYON17_CENTRES)}, got {self.n_centres}")
        itc, micro, macro = (self.lesion_mm[k] for k in ("itc", "micro", "macro"))
        if not (itc[1] < 0.2 < micro[0] and micro[1] < 2.0 < macro[0]):
            raise ValueError(f"lesion sizes must respect the 0.2 / 2.0 mm cut-offs, got {self.lesion_mm}")

    def centre(self, index: int) -> Centre:
        """The centre of index ``index`` (0-based)."""
        return CAMELYON17_CENTRES[index]

    def centre_mpp(self, index: int) -> float:
        """Level-0 um/px of the centre's slides in this preset."""
        return CAMELYON17_CENTRES[index].mpp * self.mpp_scale
