"""params.yaml -> Params: defaults are the study's, every kind of bad input names its key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from landslide.errors import ParamsError
from landslide.params import Params, load_params, parse_params


def write(tmp_path: Path, text: str, name: str = "params.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_params_yaml_equals_the_study_defaults(repo_root: Path) -> None:
    params = load_params(repo_root / "params.yaml")
    assert params == Params()
    assert params.prepare.size == (512, 512)
    assert params.classes == ["landslide", "vegetation", "water_body", "building"]
    assert (params.split.A.train, params.split.A.val, params.split.A.test) == (101, 28, 31)
    assert params.split.B.train == 62
    assert (params.train.epochs, params.train.lr, params.train.batch_size) == (20, 0.001, 1)
    assert params.evaluate.threshold == 0.8
    assert params.train.backbones == ["resnet50", "resnet101"]
    assert params.category_ids == {"landslide": 1, "vegetation": 2, "water_body": 3, "building": 4}


def test_demo_profile_overrides_only_what_it_names(repo_root: Path) -> None:
    base = load_params(repo_root / "params.yaml")
    demo = load_params(repo_root / "params.demo.yaml")
    assert demo.train.epochs < base.train.epochs
    assert demo.prepare.size[0] < base.prepare.size[0]
    assert demo.train.weights == "none"
    # untouched keys come from params.yaml
    assert demo.evaluate.threshold == base.evaluate.threshold
    assert demo.classes == base.classes
    assert demo.train.momentum == base.train.momentum


def test_extends_merges_nested_sections(tmp_path: Path) -> None:
    write(
        tmp_path,
        "train: {epochs: 7, lr: 0.01}\n"
        "split: {A: {train: 50, val: 10, test: 10}, B: {train: 30}}\n",
    )
    child = write(tmp_path, "extends: params.yaml\ntrain: {epochs: 3}\n", "child.yaml")
    params = load_params(child)
    assert params.train.epochs == 3
    assert params.train.lr == 0.01  # kept from the parent
    assert params.split.A.train == 50


def test_extends_loop_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "extends: b.yaml\n", "a.yaml")
    write(tmp_path, "extends: a.yaml\n", "b.yaml")
    with pytest.raises(ParamsError, match="loops"):
        load_params(tmp_path / "a.yaml")


def test_env_var_selects_the_params_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "train: {epochs: 4}\n", "other.yaml")
    monkeypatch.setenv("LANDSLIDE_PARAMS", str(path))
    assert load_params().train.epochs == 4


def test_missing_default_file_gives_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_params() == Params()


def test_missing_named_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match="file not found") as info:
        load_params(tmp_path / "nope.yaml")
    assert info.value.file.endswith("nope.yaml")


def test_not_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "train:\n  lr: 0.1\n  epochs: [1\n")
    with pytest.raises(ParamsError) as info:
        load_params(path)
    assert "not valid YAML" in info.value.message
    assert info.value.where is not None and info.value.where.startswith("line ")


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match="mapping"):
        load_params(write(tmp_path, "- a\n- b\n"))


@pytest.mark.parametrize(
    ("data", "key", "words"),
    [
        ({"train": {"lr": "fast"}}, "train.lr", "expected a number, got 'fast'"),
        ({"train": {"lr": -0.1}}, "train.lr", "greater than 0"),
        ({"train": {"lrr": 0.1}}, "train.lrr", "unknown key (did you mean 'lr'?)"),
        ({"bogus": 1}, "bogus", "unknown key"),
        ({"train": 3}, "train", "expected a mapping"),
        ({"train": {"epochs": 1.5}}, "train.epochs", "expected an integer"),
        ({"train": {"amp": "maybe"}}, "train.amp", "expected true or false"),
        ({"evaluate": {"threshold": 1.5}}, "evaluate.threshold", "less than or equal to 1"),
        ({"evaluate": {"threshold": -0.1}}, "evaluate.threshold", "greater than or equal to 0"),
        ({"prepare": {"size": [512]}}, "prepare.size", "wrong number of values"),
        ({"prepare": {"mode": "crop"}}, "prepare.mode", "'stretch' or 'letterbox'"),
        ({"train": {"backbones": ["resnet18"]}}, "train.backbones.0", "resnet50"),
        ({"split": {"A": {"train": 0, "val": 5, "test": 5}}}, "split.A.train", "image count"),
        ({"split": {"A": {"train": 2.5, "val": 5, "test": 5}}}, "split.A.train", "image count"),
        ({"split": {"B": {"train": 102}}}, "split", "must not exceed A.train"),
        ({"split": {"B": {"train": 10, "test": 5}}}, "split", "shares Set A's"),
        (
            {"split": {"A": {"train": 0.7, "val": 0.2, "test": 0.2}, "B": {"train": 0.3}}},
            "split",
            "add up to 1.1",
        ),
        ({"classes": ["water"]}, "classes", "'landslide' must be one of the classes"),
        ({"classes": ["landslide", "background"]}, "classes", "implicit"),
        ({"sample": {"min_side": 900, "max_side": 100}}, "sample", "exceeds max_side"),
        ({"predict": {"tile_size": 256, "tile_overlap": 256}}, "predict", "smaller than"),
    ],
)
def test_bad_values_name_the_key(data: dict, key: str, words: str) -> None:
    with pytest.raises(ParamsError) as info:
        parse_params(data, source="params.yaml")
    err = info.value
    assert err.file == "params.yaml"
    assert err.message.startswith(f"{key}: "), err.message
    assert words in err.message, err.message
    assert "\n" not in err.message  # one line (a hint may follow on a second)


def test_several_errors_are_all_reported() -> None:
    with pytest.raises(ParamsError) as info:
        parse_params({"train": {"lr": "x", "epochs": -1}})
    rendered = info.value.render()
    assert "train.lr" in rendered and "train.epochs" in rendered
    assert len(rendered.splitlines()) == 2


def test_to_yaml_round_trips() -> None:
    params = Params()
    again = parse_params(yaml.safe_load(params.to_yaml()))
    assert again == params


def test_fraction_and_count_split_sizes() -> None:
    p = parse_params({"split": {"A": {"train": 0.6, "val": 0.2, "test": 0.2}, "B": {"train": 0.4}}})
    assert p.split.A.train == 0.6 and isinstance(p.split.A.train, float)
    p = parse_params({"split": {"A": {"train": 80.0, "val": 10, "test": 10}}})
    assert p.split.A.train == 80 and isinstance(p.split.A.train, int)


def test_unlisted_photos_are_skipped_by_default(repo_root: Path) -> None:
    assert Params().annotations.unlisted == "skip"
    assert load_params(repo_root / "params.yaml").annotations.unlisted == "skip"
    assert "unannotated" not in Params().to_yaml()


@pytest.mark.parametrize("old", ["negative", "error"])
def test_the_old_unannotated_key_is_a_deprecated_alias(tmp_path: Path, old: str) -> None:
    path = write(tmp_path, f"annotations:\n  unannotated: {old}\n")
    with pytest.warns(FutureWarning, match=rf"unannotated is deprecated.*unlisted: {old}"):
        params = load_params(path)
    assert params.annotations.unlisted == old
    with pytest.warns(FutureWarning):  # the same value under both names is fine
        same = parse_params({"annotations": {"unannotated": old, "unlisted": old}})
    assert same.annotations.unlisted == old


def test_the_old_and_new_key_disagreeing_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "annotations:\n  unannotated: negative\n  unlisted: skip\n")
    with pytest.raises(ParamsError, match=r"annotations: unannotated .* and unlisted .* disagree"):
        load_params(path)
    with pytest.raises(ParamsError, match=r"annotations\.unlisted"):
        parse_params({"annotations": {"unlisted": "negatives"}})
