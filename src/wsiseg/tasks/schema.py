"""Typed schemas of the configs: a closed choice misspelt fails when Hydra composes, naming the valid values.

Each set of choices is defined once, as a ``Literal`` next to the code that acts on it (``Blend`` in
``inference``, ``Sweep`` in ``evaluation``, ...); here it becomes a ``str`` ``Enum`` that OmegaConf checks.
The schemas of ``_target_`` nodes are derived from their target's signature (:func:`schema_of`), so a field
is declared once, by the class it configures; only the roots of ``stage.yaml`` (its own keys and
``pictures``) and ``predict.yaml`` (``tissue_from``) have written-out schemas.

Registered in Hydra's ``ConfigStore`` when :mod:`wsiseg.tasks` is imported (every entry script does), and used
from the YAML files' defaults lists (``- schema`` in ``inference/default.yaml``, ``- stage_schema`` in
``stage.yaml``, ...). A value such as ``holdout=chekpoint`` then stops with Hydra's message::

    Invalid value 'chekpoint', expected one of [checkpoint, none]
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from enum import Enum
from typing import Any, Literal, Optional, get_args, get_origin

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

from wsiseg.classifiers import DiameterRule
from wsiseg.cohorts import CohortOptions
from wsiseg.evaluation.bootstrap import BootstrapSettings
from wsiseg.evaluation.froc import DetectionSettings
from wsiseg.evaluation.lesions import LesionSettings
from wsiseg.inference.plan import PredictSettings, TissueFrom
from wsiseg.mining.spec import MiningSpec
from wsiseg.staging import MissingNodes

Holdout = Literal["checkpoint", "none"]
"""``stage.py holdout=``: score the U-Net's test patients (``checkpoint``), or fit on every slide (``none``)."""

_PLAIN = (int, float, str, bool)
_ENUMS: dict[tuple[str, ...], type[Enum]] = {}


def choice_enum(literal: Any) -> type[Enum]:
    """The ``str`` ``Enum`` of a ``Literal``'s values (member names = values), made once per value set."""
    values = tuple(str(v) for v in get_args(literal))
    if values not in _ENUMS:
        name = "Choice_" + "_".join(v.replace("-", "_") for v in values)
        enum = Enum(name, {v: v for v in values}, type=str, module=__name__)
        globals()[name] = enum  # importable by name: a config holding it pickles (multirun launchers)
        _ENUMS[values] = enum
    return _ENUMS[values]


def _field_type(hint: Any) -> Any:
    """What OmegaConf checks for a parameter: an ``Enum`` for a ``Literal``, plain types, else ``Any``."""
    origin = get_origin(hint)
    if origin is Literal:
        return choice_enum(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in get_args(hint) if a is not type(None)]
        if len(inner) == 1 and len(get_args(hint)) == 2:
            typed = _field_type(inner[0])
            return Optional[typed] if typed is not Any else Any  # noqa: UP045 - OmegaConf reads typing.Optional
        return Any
    return hint if hint in _PLAIN else Any


def schema_of(target: type, skip: tuple[str, ...] = (), partial: bool = False) -> type:
    """A structured-config dataclass for a ``_target_: <target>`` node, from the target's signature.

    Every parameter becomes a field with its default (``MISSING`` where none); ``Literal`` parameters become
    enums, so a value outside them fails at composition. ``skip``: parameters the config never sets (given
    by the code, e.g. the model's resolution of a ``_partial_`` node).
    """
    hints = typing.get_type_hints(target if dataclasses.is_dataclass(target) else target.__init__)
    fields: list[tuple[str, Any, Any]] = [
        ("_target_", str, dataclasses.field(default=f"{target.__module__}.{target.__qualname__}")),
    ]
    if partial:
        fields.append(("_partial_", bool, dataclasses.field(default=True)))
    for name, parameter in inspect.signature(target).parameters.items():
        if name in skip or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        kind = _field_type(hints.get(name, Any))
        default = parameter.default
        if default is parameter.empty or not isinstance(default, (*_PLAIN, type(None))):
            default = MISSING if kind is not Any else None
        elif isinstance(kind, type) and issubclass(kind, Enum) and default is not None:
            default = kind(default)
        fields.append((name, kind, dataclasses.field(default=default)))
    return dataclasses.make_dataclass(f"{target.__name__}Schema", fields)


@dataclasses.dataclass
class PicturesSchema:
    """``stage.yaml``'s ``pictures`` node."""

    gallery_per_label: int = MISSING
    roi_figure: bool = MISSING
    html: bool = MISSING
    html_overlay_px: int = MISSING


@dataclasses.dataclass
class StageSchema:
    """The types of ``stage.yaml``'s own keys (the values are the YAML file's); config groups stay open."""

    task_name: str = MISSING
    seed: Optional[int] = MISSING  # noqa: UP045
    heatmaps: str = MISSING
    cohort: Optional[str] = MISSING  # noqa: UP045
    out_dir: str = MISSING
    features_cache: Optional[str] = MISSING  # noqa: UP045
    fitted: Optional[str] = MISSING  # noqa: UP045
    holdout: choice_enum(Holdout) = MISSING  # type: ignore[valid-type]
    missing_nodes: choice_enum(MissingNodes) = MISSING  # type: ignore[valid-type]
    cv_folds: int = MISSING
    balance_classes: bool = MISSING
    camelyon16_labels: bool = MISSING
    workers: int = MISSING
    pictures: PicturesSchema = dataclasses.field(default_factory=PicturesSchema)
    paths: Any = None
    cohorts: Any = None
    tissue: Any = None
    features: Any = None
    classifier: Any = None
    froc: Any = None
    lesions: Any = None
    bootstrap: Any = None
    optimized_metric: Optional[str] = None  # noqa: UP045 - what a sweeper maximises (conf/hparams_search)
    # the other tasks' groups, which one conf/local/default.yaml shared by every task may set; stage ignores them
    data: Any = None
    model: Any = None
    trainer: Any = None
    inference: Any = None
    mining: Any = None
    # and those an experiment (experiment/*.yaml, which every command reads) may set for training
    sampling: Any = None
    callbacks: Any = None
    logger: Any = None


@dataclasses.dataclass
class PredictSchema:
    """The types of ``predict.yaml``'s closed choices; open: its other keys, and an experiment's, pass untyped."""

    tissue_from: choice_enum(TissueFrom) = MISSING  # type: ignore[valid-type]


def register() -> None:
    """Store the schemas in Hydra's ``ConfigStore`` (idempotent)."""
    store = ConfigStore.instance()
    store.store(name="stage_schema", node=StageSchema)
    predict = OmegaConf.structured(PredictSchema)
    OmegaConf.set_struct(predict, False)  # open: predict.yaml and an experiment may add keys it does not declare
    store.store(name="predict_schema", node=predict)
    store.store(group="inference", name="schema", node=schema_of(PredictSettings, ("model_mpp", "tile"), True))
    store.store(group="classifier", name="diameter_rule_schema", node=schema_of(DiameterRule))
    store.store(group="mining", name="schema", node=schema_of(MiningSpec))
    store.store(group="cohorts", name="schema", node=schema_of(CohortOptions))
    store.store(group="froc", name="schema", node=schema_of(DetectionSettings))
    store.store(group="lesions", name="schema", node=schema_of(LesionSettings))
    store.store(group="bootstrap", name="schema", node=schema_of(BootstrapSettings))
