"""What the CLI and the Prefect flow share for a stage: the paths dvc.yaml names for a
backbone and set, their checks, and the command line's overrides of params."""

from __future__ import annotations

from pathlib import Path

import pytest

from landslide import stages as S
from landslide.errors import EvaluateError, ParamsError, TrainError
from landslide.evaluate import EvalPaths
from landslide.params import Params
from landslide.train import TrainPaths


def test_with_values_sets_only_the_options_given() -> None:
    p = Params()
    assert p.with_values("train", epochs=None, device=None) is p
    q = p.with_values("train", epochs=3, device=None)
    assert (q.train.epochs, q.train.device) == (3, p.train.device)
    assert p.train.epochs != 3  # the original is left as it was
    assert q.evaluate == p.evaluate


def test_with_values_validates_like_params_yaml_when_asked() -> None:
    p = Params()
    assert (
        p.with_values("predict", validated_as="command line", threshold=0.5).predict.threshold
        == 0.5
    )
    with pytest.raises(ParamsError, match="command line"):
        p.with_values("predict", validated_as="command line", threshold=2.0)


def test_eval_paths_are_those_of_the_dvc_stage() -> None:
    p = Params()
    paths = EvalPaths.default(
        "resnet50", "B", p, processed=Path(S.PROCESSED), models_dir=Path(S.MODELS)
    )
    spec = S.load_stages(Path(__file__).resolve().parents[1] / "dvc.yaml", p)["evaluate@resnet50-B"]
    for path in (paths.model_dir / "model.pt", paths.test_json, paths.val_json, paths.images):
        assert str(path) in spec.deps
    assert paths.out_dir == Path(S.EVALUATION) / "resnet50-setB"
    assert all(Path(out).parent == paths.out_dir for out in spec.outs)  # what it writes


def test_eval_paths_side_look_writes_beside_the_test_results() -> None:
    p = Params().with_values("evaluate", split="val")
    paths = EvalPaths.default("resnet101", "A", p, side_look=True)
    assert paths.test_json == Path("data/processed/splits/A/val.json")
    assert paths.out_dir == Path("reports/eval/resnet101-setA-val")
    assert EvalPaths.default("resnet101", "A", p, out_dir=Path("x")).out_dir == Path("x")


@pytest.mark.parametrize(
    ("backbone", "set_name", "split", "message"),
    [
        ("resnet18", "A", None, "unknown backbone 'resnet18'"),
        ("resnet50", "C", None, "unknown set 'C'"),
        ("resnet50", "A", "train", "unknown split 'train'"),
    ],
)
def test_eval_paths_refuse_what_dvc_yaml_has_no_stage_for(
    backbone: str, set_name: str, split: str | None, message: str
) -> None:
    p = Params().with_values("evaluate", split=split)
    with pytest.raises(EvaluateError, match=message):
        EvalPaths.default(backbone, set_name, p)


def test_train_paths_refuse_an_unknown_set_for_every_driver() -> None:
    with pytest.raises(TrainError, match=r"unknown set 'C' \(known: A, B\)"):
        TrainPaths.default("C", "resnet50", Params())
    paths = TrainPaths.default("B", "resnet50", Params())
    assert paths.out_dir == Path("models/resnet50-setB")
