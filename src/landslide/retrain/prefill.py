"""Photos waiting for a polygon, pre-outlined with the champion before the cycle goes on
(`schedule.prefill`)."""

from __future__ import annotations

import dataclasses

from landslide import stages as S
from landslide.errors import LandslideError
from landslide.retrain.arrivals import Arrivals
from landslide.retrain.cycle import Cycle
from landslide.tracking import mlflow_client


def prefill_waiting(cycle: Cycle, arrivals: Arrivals) -> str:
    """Pre-outline photos waiting for a polygon with the champion (skipped when impossible).

    Only photos with no region at all are given to the model, so a photo is outlined once;
    its model regions wait for review (`annotate.review`) before they count for training.
    """
    line = _prefill(cycle, arrivals)
    cycle.notes.append(line)
    return line


def _prefill(cycle: Cycle, arrivals: Arrivals) -> str:
    if not cycle.schedule.prefill:
        return "prefill: off (schedule.prefill)"
    root, params = cycle.root, cycle.params
    via = root / S.VIA_PROJECT
    try:
        from landslide.annotations import load_annotations
        from landslide.prefill import prefill_project, write_project
    except ImportError as exc:
        return f"prefill: skipped, not available ({exc})"
    outlined: set[str] = set()
    listed: set[str] = set()
    if via.is_file():
        project = load_annotations(via, None, params, review=False)
        outlined = {im.file_name for im in project.images if im.regions}
        listed = {im.file_name for im in project.images}
    targets = [name for name in arrivals.unannotated if name not in outlined]
    if not targets:
        return "prefill: no photo waits for a first outline"
    p = params.predict
    try:
        from landslide.inference import load_detector

        if find_champion_version(cycle) is None:
            return f"prefill: skipped, no champion yet ({len(targets)} photos wait)"
        detector = load_detector(f"models:/{p.model_name}@{p.alias}", params)
        ann, summary = prefill_project(
            root / S.RAW_IMAGES,
            detector,
            params,
            existing=via if via.is_file() else None,
            only=targets,
        )
        keep = listed | set(targets)  # not every photo of the folder: only those outlined
        ann = dataclasses.replace(ann, images=[im for im in ann.images if im.file_name in keep])
        write_project(ann, via, params, root / S.RAW_IMAGES)
    except LandslideError as exc:
        return f"prefill: skipped ({exc.render().splitlines()[0]})"
    except Exception as exc:  # e.g. the tracking server is down: the cycle says it later
        return f"prefill: skipped ({type(exc).__name__}: {exc})"
    return summary.summary_line()


def find_champion_version(cycle: Cycle) -> str | None:
    from mlflow.exceptions import MlflowException

    p = cycle.params.predict
    try:
        aliases = mlflow_client(cycle.tracking_uri).get_registered_model(p.model_name).aliases
    except MlflowException:
        return None
    version = aliases.get(p.alias)
    return None if version is None else str(version)
