"""Arrivals for demos and tests: the sample generator's photos added as already curated."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

from landslide import stages as S
from landslide.io import write_text
from landslide.params import Params


def add_sample_photos(
    root: Path,
    params: Params,
    n: int,
    seed: int,
    *,
    prefix: str | None = None,
    annotate: bool = True,
) -> list[str]:
    """The embedded sample generator's photos as new arrivals, already curated.

    Writes `n` synthetic photos (seed `seed`) into `data/raw/images` as `<prefix>_<name>`,
    appends their accepted decisions to `curate.decisions` and their polygons to the VIA
    project (none with `annotate=False`: they then wait for an annotator). For demos and
    tests of retraining; returns the new file names.
    """
    import csv
    import tempfile

    from landslide.annotations import Annotations, load_annotations
    from landslide.annotations.writers import via2_project
    from landslide.io import write_csv
    from landslide.sample import DECISION_FIELDS, generate_sample

    root = Path(root)
    prefix = prefix or f"s{seed}"
    images_dir = root / S.RAW_IMAGES
    via = root / S.VIA_PROJECT
    decisions = root / params.curate.decisions
    with tempfile.TemporaryDirectory(prefix="landslide-arrivals-") as tmp:
        sample = params.sample.model_copy(update={"n": n, "seed": seed})
        generate_sample(Path(tmp), sample, params.classes)
        batch = load_annotations(Path(tmp) / "via_project.json", None, params, review=False)
        with (Path(tmp) / "decisions.csv").open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        names = {}
        for row in rows:
            name = f"{prefix}_{row['file']}"
            shutil.copyfile(Path(tmp) / "images" / row["file"], images_dir / name)
            names[row["file"]] = name
            row["file"] = name
    old_rows: list[dict[str, str]] = []
    if decisions.is_file():
        with decisions.open(newline="", encoding="utf-8") as fh:
            old_rows = list(csv.DictReader(fh))
    write_csv(decisions, [*old_rows, *rows], DECISION_FIELDS)
    project = load_annotations(via, None, params, review=False) if via.is_file() else Annotations()
    added = [
        dataclasses.replace(
            im, file_name=names[im.file_name], regions=im.regions if annotate else ()
        )
        for im in batch.images
    ]
    images = [*project.images, *added]
    sizes = {im.file_name: (images_dir / im.file_name).stat().st_size for im in images}
    document = via2_project(
        Annotations(images=images),
        params.classes,
        params.annotations.class_attribute,
        sizes=sizes,
        name="landslide",
    )
    write_text(via, json.dumps(document, ensure_ascii=False, separators=(",", ":")))
    return sorted(names.values())
