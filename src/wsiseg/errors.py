"""The package's exception types: every error on user input names the offending file and what to do."""

from __future__ import annotations

from pathlib import Path


class WsisegError(Exception):
    """Base class of every error wsiseg raises on bad input."""


class _FileError(WsisegError):
    """An error about one file; the message always starts with the file's path."""

    def __init__(self, path: str | Path, message: str) -> None:
        self.path = Path(path)
        self.reason = message
        super().__init__(f"{self.path}: {message}")


class SlideError(_FileError):
    """A slide cannot be opened or read (missing, corrupt, not a TIFF, no pixel spacing, ...)."""


class AnnotationError(_FileError):
    """An annotation file is malformed or uses a group name that is not mapped."""


class UnknownGroupError(AnnotationError):
    """An annotation's group has no role (tumour, exclude, ignore); ``group`` is its name."""

    def __init__(self, path: str | Path, group: str, message: str) -> None:
        self.group = group
        super().__init__(path, message)


class LabelError(_FileError):
    """A labels / submission CSV is malformed (unknown spelling, wrong node count, duplicates, ...)."""


class CheckpointError(_FileError):
    """A checkpoint is refused or unusable (pickled code, a network outside the allow-list, wrong weights, ...)."""
