"""Typed errors for bad input.

Every error a user can cause by giving the pipeline bad input is a subclass of
`LandslideError`. It carries the file, where in the file (a key path, a line, a
region) and what to do about it, and renders as one or two lines:

    params.yaml: train.lr: expected a number, got 'fast'

The CLI catches only these and exits with status 2; anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path


class LandslideError(Exception):
    """Base class of the errors caused by bad input (not by bugs)."""

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        where: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.file = str(file) if file is not None else None
        self.where = where
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        parts = [p for p in (self.file, self.where) if p]
        head = ": ".join([*parts, self.message])
        return f"{head}\n  hint: {self.hint}" if self.hint else head


class ParamsError(LandslideError):
    """params.yaml (or an override file) is missing, unreadable or invalid."""


class SampleError(LandslideError):
    """The synthetic sample cannot be written where asked."""


class OutputExistsError(LandslideError):
    """A stage refuses to overwrite existing output without --force."""
