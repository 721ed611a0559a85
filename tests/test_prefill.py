"""Model-assisted annotation: VIA projects pre-filled with a model's polygons, read back."""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import add_incoming, model_info, run_cli, sample_project
from landslide.annotations import Annotations, ImageAnn, Region, load_annotations, read_via
from landslide.annotations.geometry import iou, shape_of
from landslide.errors import AnnotationError, PredictError, ServingError
from landslide.inference import model_input, read_photo
from landslide.params import CLASSES, AnnotateParams, Params, SampleParams
from landslide.prefill import outline, output_path, prefill_project, write_project
from landslide.sample import generate_sample

SIZE = 128  # the fake model's input size: photos are 64-128 px, stretched to it
MODEL = (("source", "model"),)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six small sample photos (half stored rotated with an EXIF tag) and their project."""
    root = tmp_path_factory.mktemp("sample")
    s = generate_sample(
        root, SampleParams(n=6, min_side=64, max_side=128, exif_fraction=0.5), CLASSES
    )
    assert s.exif_rotated >= 1 and s.landslide_images >= 1
    return root


def truth(root: Path) -> Annotations:
    p = Params()
    return read_via(root / "via_project.json", root / "images", p.annotations, p.classes)


def rotated(path: Path) -> bool:
    with Image.open(path) as im:
        return im.getexif().get(0x0112, 1) != 1


class TruthDetector:
    """A 'model' whose outputs are the ground-truth masks at its input size.

    It knows each photo by its model input (the upright photo stretched to SIZE), so the
    masks it answers are right only if prefill reads photos upright; mapping them back
    to the photo's pixels is then prefill's job alone.
    """

    def __init__(self, root: Path, classes: Sequence[str] = CLASSES, score: float = 0.9) -> None:
        from rasterio.features import rasterize
        from rasterio.transform import Affine
        from shapely import Polygon

        self.info = model_info(SIZE, classes)
        self.table: list[tuple[torch.Tensor, dict[str, torch.Tensor]]] = []
        for image in truth(root).images:
            photo = read_photo(root / "images" / image.file_name, 10**8)
            width, height = photo.size
            masks, boxes, labels = [], [], []
            for region in image.regions:
                mask = rasterize(
                    [Polygon(region.polygon)],
                    out_shape=(SIZE, SIZE),
                    transform=Affine.scale(width / SIZE, height / SIZE),
                ).astype(np.float32)
                ys, xs = np.nonzero(mask)
                if not len(xs):
                    continue
                masks.append(torch.from_numpy(mask))
                boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
                labels.append(CLASSES.index(region.label) + 1)
            n = len(masks)
            self.table.append(
                (
                    model_input(photo, (SIZE, SIZE)),
                    {
                        "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                        "labels": torch.tensor(labels, dtype=torch.int64),
                        "scores": torch.full((n,), score),
                        "masks": torch.stack(masks)[:, None]
                        if n
                        else torch.zeros(0, 1, SIZE, SIZE),
                    },
                )
            )

    def __call__(self, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        out = []
        for x in images:
            found = [o for t, o in self.table if t.shape == x.shape and torch.equal(t, x)]
            assert len(found) == 1, "shown a photo it does not know (not read upright?)"
            out.append(found[0])
        return out


def best_iou(region: Region, regions: Sequence[Region]) -> float:
    a = shape_of(region.polygon)
    return max((iou(a, shape_of(r.polygon)) for r in regions if r.label == region.label), default=0)


def params(**annotate: Any) -> Params:
    p = Params()
    for key, value in annotate.items():
        setattr(p.annotate, key, value)
    return p


# --------------------------------------------------------------------------- coordinates


def test_prefilled_polygons_match_the_ground_truth_in_original_pixels(sample: Path) -> None:
    gt = truth(sample)
    ann, summary = prefill_project(sample / "images", TruthDetector(sample), params())
    assert summary.images == 6 and not summary.skipped and summary.kept == 0
    assert summary.regions == sum(len(im.regions) for im in ann.images) > 0
    by_name = {im.file_name: im for im in ann.images}
    assert set(by_name) == {im.file_name for im in gt.images}
    ious, turned = [], 0
    for image in gt.images:
        got = by_name[image.file_name]
        assert (got.width, got.height) == (image.width, image.height)  # upright size
        for region in got.regions:
            assert dict(region.attributes)["source"] == "model"
            assert dict(region.attributes)["score"] == "0.900"
            assert region.label in CLASSES and 3 <= len(region.polygon) <= 40
            xs, ys = zip(*region.polygon, strict=True)
            assert min(xs) >= 0 and max(xs) <= image.width
            assert min(ys) >= 0 and max(ys) <= image.height
        for region in image.regions:
            ious.append(best_iou(region, got.regions))
        turned += rotated(sample / "images" / image.file_name) and bool(image.regions)
    assert turned >= 1  # EXIF-rotated photos with regions are among those checked
    assert min(ious) >= 0.75, ious
    assert sum(ious) / len(ious) >= 0.9, ious


def test_outline_caps_vertices_and_drops_specks() -> None:
    ring = []
    for k in range(200):
        angle = 2 * np.pi * k / 200
        ring += [50 + 40 * np.cos(angle), 50 + 40 * np.sin(angle)]
    p = AnnotateParams(simplify=0.0, max_vertices=12)
    polygon = outline(ring, p, 4.0)
    assert polygon is not None and 3 <= len(polygon) <= 12
    assert iou(shape_of(polygon), shape_of(list(zip(ring[0::2], ring[1::2], strict=True)))) > 0.9
    assert outline([0, 0, 1, 0, 1, 1], p, 4.0) is None  # area 0.5 < min_region_area
    assert outline([0, 0, 1, 0], p, 4.0) is None


# --------------------------------------------------------------------------- merging


def test_human_regions_are_kept_and_model_regions_over_them_dropped(
    sample: Path, tmp_path: Path
) -> None:
    gt = truth(sample)
    first = next(im for im in gt.images if len(im.regions) >= 2)
    human = first.regions[0]  # the annotator drew this one already
    elsewhere = Region("building", ((1.0, 1.0), (5.0, 1.0), (5.0, 5.0), (1.0, 5.0)), 1)
    existing = Annotations(
        images=[replace_regions(first, (human, elsewhere))], source="existing.json"
    )
    project = tmp_path / "existing.json"
    write_project(existing, project, params(), sample / "images")
    before = project.read_bytes()

    ann, summary = prefill_project(sample / "images", TruthDetector(sample), params(), project)
    assert project.read_bytes() == before  # nothing written
    assert ann.images[0].file_name == first.file_name  # the project's photos come first
    regions = ann.images[0].regions
    assert regions[:2] == (human, elsewhere)  # kept as they were, untouched
    assert summary.kept == 2 and summary.overlapping >= 1
    model = [r for r in regions if r.unreviewed]
    assert len(model) >= len(first.regions) - 1
    assert all(iou(shape_of(r.polygon), shape_of(human.polygon)) < 0.5 for r in model)
    assert len(ann.images) == 6  # the other photos added after it

    # a second run merges into the first one's output: model regions are kept, never doubled
    again, second = prefill_project(sample / "images", TruthDetector(sample), params(), ann)
    assert second.regions == 0 and second.kept == sum(len(im.regions) for im in ann.images)
    assert again.images == ann.images


def replace_regions(image: ImageAnn, regions: tuple[Region, ...]) -> ImageAnn:
    return ImageAnn(image.file_name, image.width, image.height, regions)


def test_only_the_named_photos_are_run(sample: Path) -> None:
    names = sorted(im.file_name for im in truth(sample).images)
    ann, summary = prefill_project(
        sample / "images", TruthDetector(sample), params(), only=names[:2]
    )
    assert summary.images == 2 and len(ann.images) == 6
    assert {im.file_name for im in ann.images if im.regions} == set(names[:2])


# --------------------------------------------------------------------------- reading back


def test_round_trip_through_the_reader_and_the_review_policy(sample: Path, tmp_path: Path) -> None:
    ann, summary = prefill_project(sample / "images", TruthDetector(sample), params())
    out = tmp_path / "prefill.json"
    write_project(ann, out, params(), sample / "images")
    doc = json.loads(out.read_text())
    source = doc["_via_attributes"]["region"]["source"]
    assert source["type"] == "dropdown" and source["default_options"] == {"human": True}
    assert set(source["options"]) == {"model", "human"}

    p = params()
    raw = read_via(out, sample / "images", p.annotations, p.classes)  # every region
    assert [im.regions for im in raw.images] == [im.regions for im in ann.images]
    assert sum(r.unreviewed for im in raw.images for r in im.regions) == summary.regions

    # require (the default): nothing unreviewed reaches training, and one warning says so
    strict = load_annotations(out, sample / "images", p)
    assert sum(len(im.regions) for im in strict.images) == 0
    (warning,) = [w for w in strict.warnings if "not reviewed" in w]
    assert f"{summary.regions} regions" in warning and "annotate.review" in warning

    # the annotator checks one region (source -> human) and draws one (VIA's default: human)
    key = next(k for k, v in doc["_via_img_metadata"].items() if v["regions"])
    entry = doc["_via_img_metadata"][key]
    entry["regions"][0]["region_attributes"]["source"] = "human"
    drawn = {"name": "polygon", "all_points_x": [2, 12, 12], "all_points_y": [2, 2, 12]}
    entry["regions"].append(
        {"shape_attributes": drawn, "region_attributes": {"class": "building", "source": "human"}}
    )
    saved = tmp_path / "saved.json"
    saved.write_text(json.dumps(doc))
    strict = load_annotations(saved, sample / "images", p)
    kept = [r for im in strict.images for r in im.regions]
    assert len(kept) == 2 and not any(r.unreviewed for r in kept)

    # accept: every region is read, the unreviewed ones still marked
    loose = load_annotations(saved, sample / "images", params(review="accept"))
    regions = [r for im in loose.images for r in im.regions]
    assert len(regions) == summary.regions + 1
    assert sum(r.unreviewed for r in regions) == summary.regions - 1
    assert not any("not reviewed" in w for w in loose.warnings)


def test_validation_counts_model_regions_accepted_unreviewed(sample: Path, tmp_path: Path) -> None:
    from landslide.validate import validate

    ann, summary = prefill_project(sample / "images", TruthDetector(sample), params())
    out = tmp_path / "prefill.json"
    write_project(ann, out, params(), sample / "images")
    p = params(review="accept")
    loaded = load_annotations(out, sample / "images", p)
    report = validate(loaded, sample / "images", tmp_path / "v", p.validation, p.classes)
    assert report.unreviewed == summary.regions > 0
    metrics = json.loads(report.metrics_path.read_text())
    assert metrics["unreviewed_model_regions"] == summary.regions
    assert f"{summary.regions} model regions accepted unreviewed" in report.summary_line()
    assert "accepted unreviewed" in report.md_path.read_text()

    # COCO (what prepare writes) keeps the mark, and require leaves those regions out
    from landslide.annotations import write_coco

    coco = tmp_path / "coco.json"
    write_coco(loaded, coco, p.classes)
    again = load_annotations(coco, sample / "images", p)
    assert sum(r.unreviewed for im in again.images for r in im.regions) == summary.regions
    strict = load_annotations(coco, sample / "images", params())
    assert sum(len(im.regions) for im in strict.images) == 0
    assert any("not reviewed" in w for w in strict.warnings)


def test_diff_of_the_ground_truth_against_its_prefill(sample: Path, tmp_path: Path) -> None:
    """The measure the README gives: `annotations diff` of the true project vs the prefill."""
    from landslide.annotations import write_coco

    ann, _ = prefill_project(sample / "images", TruthDetector(sample), params())
    write_project(ann, tmp_path / "prefill.json", params(), sample / "images")
    gt = truth(sample)
    test = Annotations(images=[ImageAnn(im.file_name, 8, 8) for im in gt.images[:3]])
    write_coco(test, tmp_path / "test.json", CLASSES)  # a 'test split' of three photos
    args = ["annotations", "diff", str(sample / "via_project.json"), "prefill.json"]
    result = run_cli([*args, "--only", "test.json", "--out", "diff.csv"], tmp_path)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((tmp_path / "diff.csv").open(encoding="utf-8")))
    assert [r["image"] for r in rows] == [im.file_name for im in gt.images[:3]]
    for row, image in zip(rows, gt.images, strict=False):
        assert int(row["human_regions"]) == len(image.regions)
        assert float(row["iou"]) >= 0.85 and int(row["regions_added"]) == 0
        assert int(row["human_vertices"]) == sum(len(r.polygon) for r in image.regions)
    assert "diff: 3 photos, mean IoU 0.9" in result.stdout


# --------------------------------------------------------------------------- bad input


def test_a_model_for_other_classes_is_refused(sample: Path) -> None:
    other = TruthDetector(sample, classes=["landslide", "rock"])
    with pytest.raises(PredictError, match=r"made for classes \[landslide, rock\]"):
        prefill_project(sample / "images", other, params())


def test_unreadable_photos_are_listed_and_skipped(sample: Path, tmp_path: Path) -> None:
    images = tmp_path / "images"
    shutil.copytree(sample / "images", images)
    (images / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    data = (images / "sample_0001.jpg").read_bytes()
    (images / "truncated.jpg").write_bytes(data[: len(data) // 3])
    _, summary = prefill_project(images, TruthDetector(sample), params())
    assert sorted(Path(f).name for f, _ in summary.skipped) == ["broken.jpg", "truncated.jpg"]
    assert summary.images == 6 and summary.regions > 0
    assert any("broken.jpg" in w for w in summary.warnings)
    assert "2 photos skipped" in summary.summary_line()


def test_output_never_replaces_the_input_unless_in_place(tmp_path: Path) -> None:
    project = tmp_path / "p.json"
    assert output_path(tmp_path / "out.json", project, False) == tmp_path / "out.json"
    assert output_path(None, project, True) == project
    with pytest.raises(AnnotationError, match="would be replaced"):
        output_path(tmp_path / "." / "p.json", project, False)
    with pytest.raises(AnnotationError, match="no output file"):
        output_path(None, project, False)
    with pytest.raises(AnnotationError, match="needs --project"):
        output_path(None, None, True)


# --------------------------------------------------------------------------- the CLI


def tiny_model(model_dir: Path, size: int = 64) -> Path:
    from landslide.model import skeleton
    from landslide.train import write_model

    torch.manual_seed(0)
    model = skeleton("resnet50", len(CLASSES), "v1", (size, size))
    model_dir.mkdir(parents=True, exist_ok=True)
    path = model_dir / "model.pt"
    write_model(model, model_info(size), path)
    return path


def test_a_real_tiny_untrained_model_end_to_end(sample: Path, tmp_path: Path) -> None:
    images = tmp_path / "photos"
    images.mkdir()
    names = sorted(p.name for p in (sample / "images").iterdir())
    chosen = list(
        dict.fromkeys([n for n in names if rotated(sample / "images" / n)][:1] + names[:1])
    )
    for name in chosen:
        shutil.copy(sample / "images" / name, images / name)
    model = tiny_model(tmp_path / "model")
    args = ["annotations", "prefill", "--images", "photos", "--model", str(model)]
    result = run_cli([*args, "--out", "project.json", "--threshold", "0.05"], tmp_path)
    assert result.exit_code == 0, result.output
    assert f"prefill: {len(chosen)} photos" in result.stdout
    p = Params()
    ann = read_via(tmp_path / "project.json", images, p.annotations, p.classes)
    assert sorted(im.file_name for im in ann.images) == sorted(chosen)
    regions = [(im, r) for im in ann.images for r in im.regions]
    assert regions, "the untrained model scores above 0.05 somewhere"
    for image, region in regions:
        assert region.unreviewed and float(dict(region.attributes)["score"]) >= 0.05
        xs, ys = zip(*region.polygon, strict=True)
        assert min(xs) >= 0 and max(xs) <= image.width
        assert min(ys) >= 0 and max(ys) <= image.height


PREFILL = ("annotations", "prefill", "--model", "none.pt", "--images")


def test_cli_refuses_a_project_that_is_not_via_and_writes_nothing(
    sample: Path, tmp_path: Path
) -> None:
    coco = tmp_path / "coco.json"
    coco.write_text(json.dumps({"images": [], "annotations": [], "categories": []}))
    before = coco.read_bytes()
    result = run_cli(
        [*PREFILL, str(sample / "images"), "--project", "coco.json", "--in-place"],
        tmp_path,
    )
    assert result.exit_code == 2, result.output
    assert "coco.json: this is a COCO file, not a VIA file" in result.stderr
    assert coco.read_bytes() == before and "Traceback" not in result.stderr

    result = run_cli(
        [*PREFILL, str(sample / "images"), "--project", "coco.json", "--out", "coco.json"],
        tmp_path,
    )
    assert result.exit_code == 2 and "would be replaced" in result.stderr
    result = run_cli(
        [*PREFILL, str(sample / "images"), "--out", "new.json"],
        tmp_path,
    )
    assert result.exit_code == 2 and "none.pt: model not found" in result.stderr
    assert not (tmp_path / "new.json").exists() and coco.read_bytes() == before


# --------------------------------------------------------------------------- curate apply


def scraped(root: Path, seeds: Sequence[int]) -> list[str]:
    """Photos and the scrape manifest, as the scraper writes them; their sha256s."""
    photos = []
    for seed in seeds:
        blocks = np.random.default_rng(seed).integers(40, 150, (6, 8, 3)).astype(np.uint8)
        pixels = np.asarray(Image.fromarray(blocks).resize((96, 64), Image.Resampling.NEAREST))
        pixels = pixels.copy()
        pixels[20:40, 30:70] = (230, 20, 20)  # a red 'landslide' the fake model finds
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, format="PNG")
        photos.append((buf.getvalue(), {"source": "commons", "width": "96", "height": "64"}))
    return add_incoming(root, photos, suffix=".png")


class RedDetector:
    """'Detects' the red pixels of each photo as one landslide scoring 0.9."""

    def __init__(self) -> None:
        self.info = model_info(64)
        self.calls = 0

    def __call__(self, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        self.calls += len(images)
        out = []
        for x in images:
            red = ((x[0] > 0.6) & (x[1] < 0.4) & (x[2] < 0.4)).to(torch.float32)
            ys, xs = torch.nonzero(red, as_tuple=True)
            out.append(
                {
                    "boxes": torch.tensor(
                        [[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]]
                    ).float(),
                    "labels": torch.tensor([1]),
                    "scores": torch.tensor([0.9]),
                    "masks": red[None, None],
                }
            )
        return out


@pytest.fixture
def curated(tmp_path: Path) -> Path:
    return sample_project(tmp_path, n=2, min_side=64, max_side=96, decisions="unused.csv")


def decide(root: Path, params: Params, shas: Sequence[str]) -> Any:
    from landslide.curate import Change, CurationPaths, DecisionStore

    paths = CurationPaths.from_params(params, root)
    DecisionStore(paths.decisions, "t").update(
        [Change(s, f"{s}.png", "accepted", "landslide") for s in shas]
    )
    return paths


def test_curate_apply_prefills_the_new_photos(
    curated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import landslide.inference
    from landslide.curate import apply_decisions, checkpoint

    p = params(prefill_model="models/champion.pt")
    detector = RedDetector()
    asked: list[str] = []

    def load(spec: str, _: Params) -> RedDetector:
        asked.append(spec)
        return detector

    monkeypatch.setattr(landslide.inference, "load_detector", load)
    paths = decide(curated, p, scraped(curated, [1, 2]))
    before = {
        im.file_name: im.regions
        for im in read_via(paths.via_project, None, p.annotations, p.classes).images
    }
    s = apply_decisions(paths, p)
    assert asked == ["models/champion.pt"] and detector.calls == 2  # the new photos only
    assert (s.prefilled, s.prefill_regions) == (2, 2)
    assert "pre-filled 2 new photos with 2 model regions" in s.summary_line()
    ann = read_via(paths.via_project, paths.images_dir, p.annotations, p.classes)
    for image in ann.images:
        if image.file_name in before:
            assert image.regions == before[image.file_name]  # human regions untouched
            continue
        (region,) = image.regions
        assert region.label == "landslide" and region.unreviewed
        xs, ys = zip(*region.polygon, strict=True)  # the red box at (30, 20)-(70, 40)
        assert (min(xs), min(ys), max(xs), max(ys)) == pytest.approx((30, 20, 70, 40), abs=1)
    # unreviewed: the checkpoint still waits for the annotator on both new photos
    assert len(checkpoint(p, curated).unannotated) == 2

    # --prefill '' turns it off for one run; nothing new: the model is not even loaded
    (new,) = scraped(curated, [3])[-1:]
    decide(curated, p, [new])
    off = apply_decisions(paths, p, prefill="")
    assert off.prefilled == 0 and len(asked) == 1
    again = apply_decisions(paths, p)
    assert again.copied == [] and len(asked) == 1


def test_curate_apply_goes_on_without_a_champion(
    curated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import landslide.inference
    from landslide.curate import apply_decisions

    p = params(prefill_model="models:/landslide-maskrcnn@champion")
    paths = decide(curated, p, scraped(curated, [4]))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/absent.db")
    result = run_cli(
        ["curate", "apply", "--prefill", "models:/landslide-maskrcnn@champion"], curated
    )
    assert result.exit_code == 0, result.output
    assert "note: no prefill: models:/landslide-maskrcnn@champion is not available" in (
        result.stderr
    )
    assert "apply: 1 accepted, 1 copied" in result.stdout
    assert not (tmp_path / "absent.db").exists()  # no registry created as a side effect

    def no_alias(spec: str, _: Params) -> None:
        raise ServingError("registered model 'landslide-maskrcnn' has no alias 'champion'")

    monkeypatch.setattr(landslide.inference, "load_detector", no_alias)
    (tmp_path / "absent.db").touch()
    decide(curated, p, scraped(curated, [5]))
    s = apply_decisions(paths, p)
    assert s.copied and s.prefilled == 0 and "has no alias 'champion'" in s.notes[0]

    # a model file named by the user that is not there stops apply before any copy
    decide(curated, p, scraped(curated, [6]))
    monkeypatch.undo()
    with pytest.raises(PredictError, match="model not found"):
        apply_decisions(paths, p, prefill=str(tmp_path / "missing.pt"))
    assert len(list(paths.images_dir.glob("*.png"))) == 2
