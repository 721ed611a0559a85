"""The landslide pipeline as a Prefect flow: the stage functions `dvc repro` runs, in order.

    landslide flow run --params params.demo.yaml        # or: python flows/pipeline.py

Tasks are thin: each calls one stage function with the paths dvc.yaml names. A task's
cache key is the fingerprint DVC would compute for the stage (deps' content and the
params keys it declares, read from dvc.yaml; see `landslide.stages`), so a re-run skips
what `dvc repro` would skip; a stage whose outputs are missing always runs.

The curation checkpoint pauses the run (`pause_flow_run` with a form) while photos wait
for a decision or a polygon; resume it from the Prefect UI or `landslide flow resume`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.context import TaskRunContext
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput

from landslide import stages as S
from landslide.params import Params, load_params
from landslide.tracking import parent_env, pipeline_run

ROOT = Path(".")


def stage_cache(stage: str):
    """A Prefect cache-key function: the fingerprint of the dvc.yaml stage `stage`."""

    def key(context: TaskRunContext, arguments: dict[str, Any]) -> str:
        params = arguments["params"]
        name = stage.format(**arguments)
        return S.fingerprint(S.load_stages(ROOT / "dvc.yaml", params)[name], params, ROOT)

    return key


def run_stage(stage_task: Any, stage: str, params: Params, **arguments: Any) -> Any:
    """Run a stage task; one whose outputs are missing runs even when its key is cached."""
    name = stage.format(**arguments)
    missing = S.load_stages(ROOT / "dvc.yaml", params)[name].missing_outputs(ROOT)
    return stage_task.with_options(refresh_cache=bool(missing))(params=params, **arguments)


# ------------------------------------------------------------------------------ tasks


class CurationDone(RunInput):
    """Shown in the Prefect UI when the run waits for curation or annotation."""

    done: bool = True
    note: str = ""


@task
def count_waiting(params: Params) -> dict[str, Any]:
    from landslide.curate import checkpoint

    status = checkpoint(params, ROOT)  # undecided (curated set and scrape), unannotated
    return {
        "waiting": status.waiting,
        "undecided": len(status.undecided),
        "unannotated": len(status.unannotated),
        "summary": status.summary_line(),
    }


@task(cache_key_fn=stage_cache("prepare"), persist_result=True)
def prepare_images(params: Params) -> str:
    from landslide.prepare import prepare

    s = prepare(ROOT / S.VIA_PROJECT, ROOT / S.RAW_IMAGES, ROOT / S.PREPARED, params)
    return s.summary_line()


@task(cache_key_fn=stage_cache("validate"), persist_result=True)
def validate_labels(params: Params) -> str:
    from landslide.validate import load_prepared, validate

    images = ROOT / S.PREPARED_IMAGES
    ann = load_prepared(ROOT / S.PREPARED_COCO, images, params)
    report = validate(ann, images, ROOT / S.VALIDATION, params.validation, params.classes)
    report.raise_if_failed()  # a failed validation stops the flow before training
    return report.summary_line()


@task(cache_key_fn=stage_cache("split"), persist_result=True)
def split_sets(params: Params) -> str:
    from landslide.split import split

    s = split(
        ROOT / S.PREPARED_COCO,
        ROOT / S.PREPARED_IMAGES,
        ROOT / S.SPLITS,
        params.split,
        params.classes,
    )
    return s.summary_line()


@task(cache_key_fn=stage_cache("augment@{set_name}"), persist_result=True)
def augment_train(params: Params, set_name: str) -> str:
    from landslide.augment import augment_set

    s = augment_set(
        set_name,
        params,
        splits=ROOT / S.SPLITS,
        images=ROOT / S.PREPARED_IMAGES,
        out=ROOT / S.AUGMENTED,
    )
    return s.summary_line()


@task(cache_key_fn=stage_cache("train@{backbone}-{set_name}"), persist_result=True)
def train_model(params: Params, backbone: str, set_name: str) -> str:
    from landslide.train import LogProgress, run_name, train

    progress = LogProgress(get_run_logger().info, run_name(backbone, set_name))
    return train(set_name, backbone, params, progress=progress).summary_line()


@task(cache_key_fn=stage_cache("evaluate@{backbone}-{set_name}"), persist_result=True)
def evaluate_model(params: Params, backbone: str, set_name: str) -> str:
    from landslide.evaluate import EvalPaths, evaluate

    paths = EvalPaths.default(
        backbone, set_name, params, processed=ROOT / S.PROCESSED, models_dir=ROOT / S.MODELS
    )
    result = evaluate(
        paths.model_dir,
        paths.test_json,
        paths.images,
        ROOT / S.EVALUATION / paths.name,
        params,
        val_json=paths.val_json,
    )
    return result.summary_line()


@task(cache_key_fn=stage_cache("report"), persist_result=True)
def write_report(params: Params) -> str:
    from landslide.report import report

    return report(ROOT / S.REPORT, params).summary_line()


@task(retries=2, retry_delay_seconds=[10, 60])
def scrape_photos(params: Params) -> str:
    """New photos from the web into scrape.out_dir (network-bound, so retried)."""
    from landslide.scrape import scrape

    return scrape(ROOT / params.scrape.out_dir, params.scrape).summary_line()


# ------------------------------------------------------------------------------- flow


STAGES = S.PIPELINE


@flow(name="landslide-pipeline")
def pipeline(
    params_file: str | None = None,
    until: str = "report",
    wait_timeout_s: int = 24 * 3600,
) -> dict[str, Any]:
    """Checkpoint -> prepare -> validate -> split -> augment -> train -> evaluate -> report.

    `until` stops after the named stage (as `dvc repro <stage>` does).
    """
    logger = get_run_logger()
    params = load_params(params_file)
    if params.scrape.enabled:  # first, so that new photos wait at the curation checkpoint
        logger.info(scrape_photos(params))
    if until not in STAGES:
        raise ValueError(f"until: unknown stage {until!r} (known: {', '.join(STAGES)})")
    last = STAGES.index(until)

    waiting = count_waiting(params)
    while waiting["waiting"]:
        logger.warning("waiting for people: %s", waiting["summary"])
        pause_flow_run(
            wait_for_input=CurationDone.with_initial_data(
                description=(
                    f"**{waiting['undecided']} photos wait for a decision and "
                    f"{waiting['unannotated']} accepted landslide photos for a polygon.** "
                    f"({waiting['summary']}) Curate (`landslide curate serve`, then "
                    "`landslide curate apply`) and annotate in VIA, then resume."
                ),
            ),
            timeout=wait_timeout_s,
        )
        waiting = count_waiting(params)
    logger.info(waiting["summary"])

    results: dict[str, Any] = {"curation": waiting["summary"]}
    results["prepare"] = run_stage(prepare_images, "prepare", params)
    if last < STAGES.index("validate"):
        return results
    results["validate"] = run_stage(validate_labels, "validate", params)
    if last < STAGES.index("split"):
        return results
    results["split"] = run_stage(split_sets, "split", params)
    if last < STAGES.index("augment"):
        return results
    for set_name in params.train.sets:
        results[f"augment {set_name}"] = run_stage(
            augment_train, "augment@{set_name}", params, set_name=set_name
        )
    if last < STAGES.index("train"):
        return results

    # One MLflow parent run per flow run; the training and evaluation runs nest under it.
    runs = [(b, s) for b in params.train.backbones for s in params.train.sets]
    with pipeline_run(params) as parent, parent_env(parent):
        for backbone, set_name in runs:  # one after another: one CPU or one GPU
            key = f"train {backbone}-set{set_name}"
            results[key] = run_stage(
                train_model,
                "train@{backbone}-{set_name}",
                params,
                backbone=backbone,
                set_name=set_name,
            )
        for backbone, set_name in runs if last >= STAGES.index("evaluate") else []:
            key = f"evaluate {backbone}-set{set_name}"
            results[key] = run_stage(
                evaluate_model,
                "evaluate@{backbone}-{set_name}",
                params,
                backbone=backbone,
                set_name=set_name,
            )
    if last == STAGES.index("report"):
        results["report"] = run_stage(write_report, "report", params)
    return results


if __name__ == "__main__":
    import sys

    pipeline(sys.argv[1] if len(sys.argv) > 1 else None)
