"""The `predict` stage: photos read, run and written in overlapping batches."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from landslide.errors import PredictError
from landslide.inference import LANDSLIDE, Detector, check_classes
from landslide.params import PredictParams
from landslide.predict.inputs import read_batch
from landslide.predict.outputs import Advance, PredictOutputs, PredictSummary


def predict(
    paths: Sequence[Path],
    detector: Detector,
    out_dir: Path,
    p: PredictParams,
    *,
    progress: Advance | None = None,
) -> PredictSummary:
    """Predict every photo in `paths` (files; see `collect_inputs`), write `out_dir`.

    Three stages overlap, one batch apart: a thread reads and resizes the next batch while
    the detector runs on this one, and another thread maps back, encodes and draws the
    previous one (PIL, NumPy and pycocotools release the GIL). At most three batches are
    in memory.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    info = detector.info
    if LANDSLIDE not in info.classes:
        check_classes(info, info.classes, None)
    if not paths:
        raise PredictError("no photo to predict", hint="pass photo files, folders or globs")
    run = PredictOutputs(out_dir, info, p, len(paths), progress)
    _run_batches(paths, detector, run, p)
    summary = run.summary
    if not run.images:
        first = summary.skipped[0] if summary.skipped else ("", "")
        raise PredictError(
            f"none of the {len(paths)} files could be read as a photo",
            file=first[0] or None,
            hint=f"first reason: {first[1]}" if first[1] else None,
        )
    for file, reason in summary.skipped:
        summary.warnings.append(f"skipped {file}: {reason}")
    summary.files = run.write_files(detector)
    summary.seconds = time.perf_counter() - started
    return summary


def _run_batches(
    paths: Sequence[Path], detector: Detector, run: PredictOutputs, p: PredictParams
) -> None:
    """Read ahead, detect, write behind: one thread each side of the detector."""
    from concurrent.futures import Future, ThreadPoolExecutor

    info = detector.info
    size = (int(info.size[0]), int(info.size[1]))
    chunks = [paths[i : i + p.batch_size] for i in range(0, len(paths), p.batch_size)]
    with (
        ThreadPoolExecutor(1, "predict-read") as reader,
        ThreadPoolExecutor(1, "predict-write") as writer,
    ):
        ahead = reader.submit(read_batch, chunks[0], size, p.max_image_pixels)
        written: Future[None] | None = None
        for i in range(len(chunks)):
            batch = ahead.result()
            if i + 1 < len(chunks):
                ahead = reader.submit(read_batch, chunks[i + 1], size, p.max_image_pixels)
            readable = [photo for photo in batch if photo.tensor is not None]
            outputs = detector([photo.tensor for photo in readable]) if readable else []
            if written is not None:
                written.result()  # in order, and no more than one batch waits
            written = writer.submit(run.write_batch, batch, outputs)
        if written is not None:
            written.result()
