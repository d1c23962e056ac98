"""The task layer: the only code that touches omegaconf. Each entry script calls one ``run(cfg)`` here."""
