"""The task layer: the only code that touches omegaconf. Each entry script calls one ``run(cfg)`` here."""

from wsiseg.tasks.schema import register as _register_schemas

_register_schemas()  # the configs' typed schemas, before any entry script composes a config
