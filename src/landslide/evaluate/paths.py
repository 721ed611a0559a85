"""Where `landslide evaluate --backbone B --set S` reads and writes: dvc.yaml's
`evaluate@<backbone>-<SET>` stage, for the CLI and the Prefect flow alike.

    paths = EvalPaths.default("resnet50", "A", params)
    evaluate(paths.model_dir, paths.test_json, paths.images, paths.out_dir, params,
             val_json=paths.val_json)

A side look (`--split val` on the command line) writes beside the test results
(`reports/eval/<name>-val/`), never over the ones dvc.yaml declares. So does any other
annotated set (`--coco FILE --images DIR`: a held-out sample, a new survey's photos), in
`reports/eval/<name>-<file stem>/`; its images are those the COCO file's pixels refer to.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from landslide.errors import EvaluateError
from landslide.params import BACKBONES, Params

SPLITS = ("test", "val")


def default_out_dir(name: str, reports: Path = Path("reports/eval")) -> Path:
    return reports / name


@dataclass(frozen=True)
class EvalPaths:
    name: str  # <backbone>-set<SET>, the training run's name
    model_dir: Path
    test_json: Path  # the split evaluated (evaluate.split): test, or val
    val_json: Path  # where the calibrated threshold is chosen
    images: Path
    out_dir: Path

    @classmethod
    def default(
        cls,
        backbone: str,
        set_name: str,
        params: Params,
        *,
        processed: Path = Path("data/processed"),
        models_dir: Path | None = None,
        out_dir: Path | None = None,
        side_look: bool = False,
        coco: Path | None = None,
        images: Path | None = None,
        model_dir: Path | None = None,
    ) -> EvalPaths:
        """EvaluateError for an unknown backbone, set or split (evaluate.split).

        `coco` (with the `images` it refers to) replaces the split: any annotated set
        scored by the model; `model_dir` replaces `models/<backbone>-set<SET>`.
        """
        if backbone not in BACKBONES:
            raise EvaluateError(
                f"unknown backbone {backbone!r} (known: {', '.join(BACKBONES)})",
                hint="pass --backbone resnet50 or --backbone resnet101",
            )
        if set_name not in ("A", "B"):
            raise EvaluateError(f"unknown set {set_name!r} (known: A, B)", hint="pass --set A or B")
        split = params.evaluate.split
        if split not in SPLITS:
            raise EvaluateError(f"unknown split {split!r} (known: test, val)")
        name = f"{backbone}-set{set_name}"
        splits = processed / "splits" / set_name
        if coco is not None:
            side = f"{name}-{Path(coco).stem}"
        else:
            side = f"{name}-{split}" if side_look else name
        return cls(
            name=name,
            model_dir=model_dir or (models_dir or params.train.models_dir) / name,
            test_json=coco if coco is not None else splits / f"{split}.json",
            val_json=splits / "val.json",
            images=images or processed / "prepared" / "images",
            out_dir=out_dir or default_out_dir(side),
        )
