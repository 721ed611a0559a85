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


class ScrapeError(LandslideError):
    """Image collection cannot go on: a source answered malformed JSON or changed HTML
    (`where` names the source and query), the manifest is unreadable, another scrape
    holds the folder, or no source could be reached at all."""


class OutputExistsError(LandslideError):
    """A stage refuses to overwrite existing output without --force."""


class AnnotationError(LandslideError):
    """An annotation file (VIA or COCO) or one of its images is unreadable or invalid.

    `where` names the image and region (`image 'a.jpg' region 3`) or the line and column.
    """


class PrepareError(LandslideError):
    """An image cannot be prepared (corrupt, truncated, a decompression bomb, an unknown
    pixel format), or the output directory overlaps the input images."""


class ValidationFailed(LandslideError):
    """The validation stage found failing checks; its report names each file and region."""

    def __init__(self, failures: int, report: str | Path, *, first: str | None = None) -> None:
        self.failures = failures
        self.report = str(report)
        noun = "failure" if failures == 1 else "failures"
        super().__init__(
            f"validation failed: {failures} {noun}, report: {report}",
            hint=f"fix what the report lists, then validate again; first: {first}"
            if first
            else None,
        )


class SplitError(LandslideError):
    """The photos cannot be split as Params ask (too few photos, an empty class in val/test)."""


class TrainError(LandslideError):
    """Training cannot start or go on: an empty train split, weights that do not fit or
    cannot be fetched, a corrupt checkpoint, a missing device, a loss that is not finite."""


class CurationError(LandslideError):
    """The curation decisions file is unreadable or holds unknown values."""


class EvaluateError(LandslideError):
    """A model cannot be evaluated: its directory or files are missing, its classes differ
    from the annotations', or the test split is empty or missing."""


class PredictError(LandslideError):
    """Prediction cannot run: no model at the path or URI, a model without the landslide
    class or made for other classes, no image among the inputs."""


class RasterError(PredictError):
    """An orthomosaic cannot be read or tiled (not a raster, too few bands, an unknown
    pixel type), or its output cannot be written in the asked format."""


class DataVersionError(LandslideError):
    """DVC cannot version the data here: no git repository, no `.dvc/`, no remote, or a
    `dvc add` / `push` / `pull` that failed."""


class ServingError(LandslideError):
    """A model cannot be found or served: an unknown run, registered model, version or alias
    (the message lists those that exist), a run with no MLflow model, a bad model URI."""


class ExportError(LandslideError):
    """A model cannot be exported or an exported file cannot be used: an unknown format, a
    corrupt or foreign ONNX file, outputs that differ from PyTorch beyond tolerance."""


class RetrainError(LandslideError):
    """A retraining cycle cannot go on: the MLflow tracking server cannot be reached, new
    photos fail validation (named), a champion cannot be evaluated, a promotion cannot be
    recorded. The champion alias is never moved by a cycle that raised this."""


class CycleLocked(RetrainError):
    """Another retraining cycle holds the lock (its PID, host and start time are named)."""
