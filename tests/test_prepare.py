"""Prepare stage: geometry lands where the arithmetic says, every pixel format becomes RGB
8-bit, the COCO file agrees with its masks, reruns redo only what changed, bad photos are
named."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO
from typer.testing import CliRunner

from landslide.annotations import Annotations, ImageAnn, Region, load_annotations, write_via2
from landslide.cli import app
from landslide.errors import AnnotationError, PrepareError
from landslide.params import (
    CLASSES,
    AnnotationsParams,
    Params,
    PrepareParams,
    SampleParams,
)
from landslide.prepare import (
    COCO_NAME,
    IMAGES_DIR,
    METRICS_NAME,
    STATE_NAME,
    BadImage,
    layout,
    prepare,
    prepare_annotations,
    render,
)
from landslide.sample import generate_sample

# pycocotools 2.0.x with NumPy 2: a DeprecationWarning on every annToMask
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

RED, GREEN = (220, 30, 30), (40, 160, 60)


def params(annotations: dict | None = None, **prepare_kw) -> Params:
    prepare_kw.setdefault("workers", 1)
    return Params(
        prepare=PrepareParams(**prepare_kw), annotations=AnnotationsParams(**(annotations or {}))
    )


def rect(x0: float, y0: float, x1: float, y1: float) -> tuple[tuple[float, float], ...]:
    return ((x0, y0), (x1, y0), (x1, y1), (x0, y1))


def scene(width: int, height: int, box: tuple[int, int, int, int]) -> Image.Image:
    """Green photo with a red rectangle covering pixels [x0, x1) x [y0, y1)."""
    a = np.empty((height, width, 3), np.uint8)
    a[:] = GREEN
    x0, y0, x1, y1 = box
    a[y0:y1, x0:x1] = RED
    return Image.fromarray(a)


def write_project(root: Path, regions: dict[str, tuple[Region, ...]]) -> Path:
    """A VIA 2 project for the photos in root/images, with the given regions."""
    ann = Annotations(images=[ImageAnn(name, regions=r) for name, r in regions.items()])
    path = root / "via.json"
    write_via2(ann, path, CLASSES, "class", images_dir=root / "images")
    return path


def coco(out: Path) -> dict:
    return json.loads((out / COCO_NAME).read_text())


def pixels(out: Path, name: str) -> np.ndarray:
    with Image.open(out / IMAGES_DIR / name) as im:
        assert im.mode == "RGB"
        return np.asarray(im).astype(int)


def close(color: np.ndarray, expected: tuple[int, int, int], tol: int = 12) -> bool:
    return bool(np.all(np.abs(np.asarray(color) - np.asarray(expected)) <= tol))


# ---------------------------------------------------------------------------- geometry


@pytest.fixture
def wide(tmp_path: Path) -> Path:
    """A 200x100 photo whose red square covers pixels x 50..149, y 25..74, annotated exactly."""
    (tmp_path / "images").mkdir()
    scene(200, 100, (50, 25, 150, 75)).save(tmp_path / "images" / "wide.png")
    write_project(tmp_path, {"wide.png": (Region("landslide", rect(50, 25, 150, 75)),)})
    return tmp_path


def test_stretch_moves_a_square_exactly_with_its_pixels(wide: Path) -> None:
    out = wide / "out"
    s = prepare(wide / "via.json", wide / "images", out, params(size=(100, 100)))
    assert (s.images, s.processed, s.regions["landslide"]) == (1, 1, 1)
    doc = coco(out)
    assert doc["images"][0] | {"id": 0} == {
        "id": 0,
        "file_name": "wide.jpg",
        "width": 100,
        "height": 100,
    }
    (a,) = doc["annotations"]
    assert sorted(zip(a["segmentation"][0][::2], a["segmentation"][0][1::2], strict=True)) == [
        (25, 25),
        (25, 75),
        (75, 25),
        (75, 75),
    ]
    assert a["bbox"] == [25, 25, 50, 50] and a["area"] == 2500
    px = pixels(out, "wide.jpg")
    assert px.shape == (100, 100, 3)
    assert close(px[27:73, 27:73].mean(axis=(0, 1)), RED)  # under the region
    assert close(px[:22].mean(axis=(0, 1)), GREEN) and close(px[78:].mean(axis=(0, 1)), GREEN)
    assert close(px[:, :22].mean(axis=(0, 1)), GREEN)


def test_letterbox_keeps_the_aspect_and_offsets_the_region(wide: Path) -> None:
    out = wide / "out"
    prepare(wide / "via.json", wide / "images", out, params(size=(100, 100), mode="letterbox"))
    (a,) = coco(out)["annotations"]
    assert a["bbox"] == [25, 37.5, 50, 25]  # scale 0.5, content 100x50 at (0, 25)
    px = pixels(out, "wide.jpg")
    assert px[:23].max() <= 12 and px[77:].max() <= 12  # black bars above and below
    assert close(px[40:60, 28:72].mean(axis=(0, 1)), RED)
    assert close(px[28:72, 2:20].mean(axis=(0, 1)), GREEN)


def test_letterbox_layout_for_a_tall_photo() -> None:
    lay = layout(100, 400, (512, 512), "letterbox")
    assert (lay.nw, lay.nh, lay.ox, lay.oy) == (128, 512, 192, 0)
    assert lay.point(0, 0) == (192, 0) and lay.point(100, 400) == (320, 512)


def test_exif_rotated_photo_gives_upright_geometry(tmp_path: Path) -> None:
    """The annotator drew on the upright photo; the file is stored turned, with orientation 6."""
    (tmp_path / "images").mkdir()
    upright = scene(160, 96, (32, 16, 96, 64))
    exif = Image.Exif()
    exif[0x0112] = 6
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what exif_transpose turns back
    stored.save(tmp_path / "images" / "turned.jpg", quality=95, exif=exif.tobytes())
    write_project(tmp_path, {"turned.jpg": (Region("landslide", rect(32, 16, 96, 64)),)})
    out = tmp_path / "out"
    prepare(tmp_path / "via.json", tmp_path / "images", out, params(size=(80, 48)))
    (a,) = coco(out)["annotations"]
    assert a["bbox"] == [16, 8, 32, 24]
    px = pixels(out, "turned.jpg")
    assert px.shape == (48, 80, 3)
    red = np.abs(px - RED).sum(axis=2) < 90
    ys, xs = np.nonzero(red)
    assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (16, 8, 48, 32)


# ---------------------------------------------------------------------------- pixel modes


def _rgba() -> Image.Image:
    return Image.new("RGBA", (64, 48), (250, 0, 0, 128))


def _palette() -> Image.Image:
    return Image.new("RGB", (64, 48), (10, 120, 200)).convert("P")


def _sixteen(value: int) -> Image.Image:
    return Image.fromarray(np.full((48, 64), value, np.uint16))


@pytest.mark.parametrize(
    ("name", "make", "expected"),
    [
        ("gray.png", lambda: Image.new("L", (64, 48), 200), (200, 200, 200)),
        ("palette.png", _palette, (10, 120, 200)),
        ("alpha.png", _rgba, (125, 0, 0)),  # composited on black
        ("gray_alpha.png", lambda: Image.new("LA", (64, 48), (100, 0)), (0, 0, 0)),
        ("cmyk.jpg", lambda: Image.new("CMYK", (64, 48), (0, 255, 255, 0)), (255, 0, 0)),
        ("cmyk.tif", lambda: Image.new("CMYK", (64, 48), (0, 0, 255, 0)), (255, 255, 0)),
        ("white16.png", lambda: _sixteen(65535), (255, 255, 255)),
        ("mid16.png", lambda: _sixteen(32896), (128, 128, 128)),  # scaled, not clipped
        ("bilevel.png", lambda: Image.new("1", (64, 48), 1), (255, 255, 255)),
    ],
)
def test_every_pixel_format_becomes_rgb_8bit(
    tmp_path: Path, name: str, make, expected: tuple[int, int, int]
) -> None:
    source = make()
    source.save(tmp_path / name)
    with Image.open(tmp_path / name) as im:
        assert im.mode == source.mode  # the file really holds that format
    data, upright = render(tmp_path / name, (32, 24), "stretch", 95, 10**8)
    assert upright == (64, 48)
    out = tmp_path / "out.jpg"
    out.write_bytes(data)
    with Image.open(out) as im:
        assert (im.mode, im.size) == ("RGB", (32, 24))
        assert close(np.asarray(im).reshape(-1, 3).mean(axis=0), expected, tol=4)


# ---------------------------------------------------------------------------- sample sets


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sample") / "raw"
    generate_sample(root, SampleParams(n=8, min_side=64, max_side=128), CLASSES)
    return root


@pytest.fixture
def raw(sample_dir: Path, tmp_path: Path) -> Path:
    shutil.copytree(sample_dir, tmp_path / "raw")
    return tmp_path / "raw"


def run(raw: Path, out: Path, p: Params):
    return prepare(raw / "via_project.json", raw / "images", out, p)


def test_coco_output_agrees_with_its_masks(raw: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    p = params(size=(96, 64))
    s = run(raw, out, p)
    source = load_annotations(raw / "via_project.json", raw / "images", p)
    assert (s.images, s.negatives) == (8, source.negatives)
    assert s.regions == {c: source.counts().get(c, 0) for c in CLASSES}
    assert s.dropped_regions == 0
    assert json.loads((out / METRICS_NAME).read_text()) == s.metrics()
    api = COCO(str(out / COCO_NAME))
    assert len(api.getImgIds()) == 8
    assert [im["file_name"] for im in api.dataset["images"]] == [
        Path(im.file_name).with_suffix(".jpg").as_posix() for im in source.images
    ]
    for im in api.dataset["images"]:
        assert (im["width"], im["height"]) == (96, 64)
        with Image.open(out / IMAGES_DIR / im["file_name"]) as photo:
            assert (photo.mode, photo.size) == ("RGB", (96, 64))
    assert api.dataset["annotations"]
    for a in api.dataset["annotations"]:
        flat = a["segmentation"][0]
        x, y, w, h = a["bbox"]
        vx, vy = flat[::2], flat[1::2]
        assert [x, y, x + w, y + h] == pytest.approx([min(vx), min(vy), max(vx), max(vy)])
        assert min(x, y) >= 0 and x + w <= 96 and y + h <= 64
        mask = api.annToMask(a)
        ys, xs = np.nonzero(mask)
        # the mask lies in the box (pixel centres inside the polygon), and fills most of it
        assert x - 1 <= xs.min() and xs.max() + 1 <= x + w + 1
        assert y - 1 <= ys.min() and ys.max() + 1 <= y + h + 1
        assert abs(mask.sum() - a["area"]) <= 0.25 * a["area"] + 8


def test_rerun_redoes_only_what_changed(raw: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    p = params({"missing_image": "skip"}, size=(64, 64))
    first = run(raw, out, p)
    assert (first.processed, first.skipped, first.removed) == (8, 0, 0)
    before = {f: f.read_bytes() for f in (out / IMAGES_DIR).iterdir()}

    again = run(raw, out, p)
    assert (again.processed, again.skipped) == (0, 8)
    assert {f: f.read_bytes() for f in (out / IMAGES_DIR).iterdir()} == before

    photos = sorted((raw / "images").iterdir())
    with photos[0].open("ab") as fh:  # new bytes, same picture: JPEG readers stop at EOI
        fh.write(b"\0")
    assert (run(raw, out, p).processed, run(raw, out, p).processed) == (1, 0)

    (out / IMAGES_DIR / photos[1].with_suffix(".jpg").name).unlink()  # a lost output
    assert run(raw, out, p).processed == 1

    bigger = params({"missing_image": "skip"}, size=(72, 64))
    assert run(raw, out, bigger).processed == 8

    photos[2].unlink()
    gone = run(raw, out, bigger)
    assert (gone.images, gone.processed, gone.removed) == (7, 0, 1)
    assert not (out / IMAGES_DIR / photos[2].with_suffix(".jpg").name).exists()
    assert photos[2].name not in {im["file_name"] for im in coco(out)["images"]}
    assert sorted(json.loads((out / STATE_NAME).read_text())["outputs"]) == sorted(
        im["file_name"] for im in coco(out)["images"]
    )


def test_a_region_edit_rewrites_annotations_without_reencoding(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    scene(200, 100, (50, 25, 150, 75)).save(tmp_path / "images" / "wide.png")
    write_project(tmp_path, {"wide.png": (Region("landslide", rect(50, 25, 150, 75)),)})
    out, p = tmp_path / "out", params(size=(100, 100))
    prepare(tmp_path / "via.json", tmp_path / "images", out, p)
    write_project(tmp_path, {"wide.png": (Region("building", rect(0, 0, 100, 50)),)})
    s = prepare(tmp_path / "via.json", tmp_path / "images", out, p)
    assert (s.processed, s.skipped, s.regions["building"]) == (0, 1, 1)
    (a,) = coco(out)["annotations"]
    assert a["bbox"] == [0, 0, 50, 50]


def test_two_workers_write_the_same_bytes_as_one(raw: Path, tmp_path: Path) -> None:
    def files(out: Path) -> dict[str, bytes]:
        return {
            f.relative_to(out).as_posix(): f.read_bytes() for f in out.rglob("*") if f.is_file()
        }

    run(raw, tmp_path / "one", params(size=(64, 64), workers=1))
    s = run(raw, tmp_path / "two", params(size=(64, 64), workers=2))
    assert s.processed == 8
    assert files(tmp_path / "one") == files(tmp_path / "two")


# ---------------------------------------------------------------------------- bad input


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_truncated_photo_fails_naming_it_then_skip_bad_lists_it(raw: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    victim = sorted((raw / "images").iterdir())[3]
    original = victim.read_bytes()
    _truncate(victim)
    with pytest.raises(PrepareError) as err:
        run(raw, out, params(size=(64, 64)))
    assert victim.name in str(err.value) and "truncated" in str(err.value)
    assert "prepare.skip_bad" in str(err.value)
    assert not (out / COCO_NAME).exists()  # no output set anything downstream would trust

    s = run(raw, out, params(size=(64, 64), skip_bad=True))
    assert s.images == 7 and len(s.bad) == 1 and s.bad[0].startswith(victim.name)
    assert s.processed == 0  # the seven good photos were kept from the failed run
    assert victim.name in s.summary_line()
    assert victim.stem not in {Path(im["file_name"]).stem for im in coco(out)["images"]}
    assert json.loads((out / METRICS_NAME).read_text())["bad"] == 1

    victim.write_bytes(original)
    fixed = run(raw, out, params(size=(64, 64)))
    assert (fixed.images, fixed.processed, fixed.bad) == (8, 1, ())


def test_decompression_bomb_is_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    bomb = tmp_path / "images" / "bomb.png"
    Image.new("L", (3000, 2000)).save(bomb)  # a few kB on disk, 6 Mpx decoded
    write_project(tmp_path, {"bomb.png": ()})
    p = params({"max_image_pixels": 1_000_000}, size=(64, 64))
    with pytest.raises(AnnotationError, match=r"bomb\.png.*decompression bomb"):
        prepare(tmp_path / "via.json", tmp_path / "images", tmp_path / "out", p)
    with pytest.raises(BadImage, match="decompression bomb"):
        render(bomb, (64, 64), "stretch", 95, 1_000_000)
    # the annotations checked it first; prepare checks again, and skip_bad leaves it out
    ann = Annotations(images=[ImageAnn("bomb.png")])
    p.prepare.skip_bad = True
    s = prepare_annotations(ann, tmp_path / "images", tmp_path / "out", p)
    assert s.images == 0 and len(s.bad) == 1
    assert s.bad[0].startswith("bomb.png (") and "decompression bomb" in s.bad[0]


COLLIDING = {  # photo -> its colour; X.jpeg, X.PNG and X.jpg all want images/X.jpg
    "X.jpeg": (200, 40, 40),
    "X.jpg": (40, 200, 40),
    "X.PNG": (40, 40, 200),
    "X-2.png": (200, 200, 40),  # wants X-2.jpg itself: a generated name never takes it
    "a b (1).png": (200, 40, 200),
    "a b (1).jpeg": (40, 200, 200),
    "sub/a b (1).png": (120, 120, 120),  # another folder: no collision
}


def _colliding(root: Path, order: list[str]) -> Path:
    (root / "images" / "sub").mkdir(parents=True, exist_ok=True)
    for name, colour in COLLIDING.items():
        Image.new("RGB", (64, 48), colour).save(root / "images" / name)
    box = Region("landslide", rect(4, 4, 20, 20), 0)
    return write_project(root, {name: (box,) if name == "X.PNG" else () for name in order})


def test_outputs_sharing_a_name_get_unique_names(tmp_path: Path) -> None:
    """Named as predict names its overlays; the COCO file maps each photo to its output."""
    _colliding(tmp_path, list(COLLIDING))
    out = tmp_path / "out"
    s = prepare(tmp_path / "via.json", tmp_path / "images", out, params(size=(32, 24)))
    names = {im["file_name"] for im in coco(out)["images"]}
    assert names == {
        "X.jpg",  # the photo already named so keeps it
        "X-3.jpg",  # X.jpeg (X-2.jpg is X-2.png's)
        "X-4.jpg",  # X.PNG
        "X-2.jpg",
        "a b (1).jpg",  # a b (1).jpeg, first by name
        "a b (1)-2.jpg",  # a b (1).png
        "sub/a b (1).jpg",
    }
    state = json.loads((out / STATE_NAME).read_text())["outputs"]
    source_of = {name: entry["source"] for name, entry in state.items()}
    assert source_of["X-3.jpg"] == "X.jpeg" and source_of["X-4.jpg"] == "X.PNG"
    assert source_of["a b (1)-2.jpg"] == "a b (1).png"
    for name, source in source_of.items():  # each output holds its own photo's pixels
        assert close(pixels(out, name)[12, 16], COLLIDING[source]), name
    (labelled,) = [a["image_id"] for a in coco(out)["annotations"]]
    by_id = {im["id"]: im["file_name"] for im in coco(out)["images"]}
    assert by_id[labelled] == "X-4.jpg"  # the regions went with the photo
    assert ("X.PNG", "X-4.jpg") in s.renamed and len(s.renamed) == 3
    assert "3 outputs renamed to keep names apart: " in s.summary_line()
    assert "X.jpeg -> X-3.jpg" in s.summary_line()


def test_unique_names_do_not_depend_on_the_order(tmp_path: Path) -> None:
    forward, backward = tmp_path / "f", tmp_path / "b"
    _colliding(forward, list(COLLIDING))
    _colliding(backward, list(reversed(COLLIDING)))
    outputs = []
    for root in (forward, backward):
        prepare(root / "via.json", root / "images", root / "out", params(size=(32, 24)))
        state = json.loads((root / "out" / STATE_NAME).read_text())["outputs"]
        outputs.append({name: entry["source"] for name, entry in state.items()})
    assert outputs[0] == outputs[1]
    s = prepare(forward / "via.json", forward / "images", forward / "out", params(size=(32, 24)))
    assert (s.processed, s.skipped) == (0, len(COLLIDING))  # a rerun keeps every output


def test_unlisted_photos_are_left_out_and_counted(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        scene(64, 48, (0, 0, 8, 8)).save(tmp_path / "images" / name)
    write_project(tmp_path, {"a.jpg": (Region("landslide", rect(4, 4, 20, 20), 0),)})
    out = tmp_path / "out"
    s = prepare(tmp_path / "via.json", tmp_path / "images", out, params(size=(32, 24)))
    assert s.images == 1 and s.negatives == 0  # b and c are unknown, not negatives
    assert s.unlisted == ("b.jpg", "c.jpg")
    assert "2 photos not in the annotations left out" in s.summary_line()
    assert "b.jpg, c.jpg" in s.summary_line()
    assert json.loads((out / METRICS_NAME).read_text())["unlisted"] == 2
    assert coco(out)["info"]["unlisted"] == ["b.jpg", "c.jpg"]  # validate reports them
    assert sorted(p.name for p in (out / IMAGES_DIR).iterdir()) == ["a.jpg"]
    p = params({"unlisted": "negative"}, size=(32, 24))
    s = prepare(tmp_path / "via.json", tmp_path / "images", out, p)
    assert (s.images, s.negatives, s.unlisted) == (3, 2, ())
    assert "unlisted" not in coco(out)["info"]


def test_output_inside_the_images_directory_is_refused(wide: Path) -> None:
    with pytest.raises(PrepareError, match="overlaps"):
        prepare(wide / "via.json", wide / "images", wide / "images" / "prepared", params())


# ---------------------------------------------------------------------------- CLI


def test_cli_prepares_the_sample_and_reports_bad_input(
    raw: Path, tmp_path: Path, repo_root: Path
) -> None:
    params_file = tmp_path / "params.yaml"
    params_file.write_text(
        f"extends: {repo_root / 'params.yaml'}\nprepare: {{size: [64, 64], workers: 1}}\n"
    )
    out = tmp_path / "prepared"
    args = ["prepare", "--annotations", str(raw / "via_project.json")]
    args += ["--images", str(raw / "images"), "--out", str(out), "--params", str(params_file)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (
        f"prepare: 8 images (8 processed, 0 unchanged, 0 removed), 64x64 stretch -> {out}"
        in result.output
    )
    assert len(list((out / IMAGES_DIR).iterdir())) == 8
    assert (out / COCO_NAME).is_file() and (out / METRICS_NAME).is_file()

    _truncate(sorted((raw / "images").iterdir())[0])
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    (line,) = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    assert "sample_0001.jpg" in line and "truncated" in line


def test_an_interrupted_run_leaves_nothing_to_trust_and_keeps_its_work(
    raw: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import landslide.prepare as stage

    out = tmp_path / "out"
    run(raw, out, params(size=(64, 64)))
    calls = []

    def dies_on_the_fourth(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real_render(*args, **kwargs)

    real_render = stage.render
    monkeypatch.setattr("landslide.prepare.pixels.render", dies_on_the_fourth)
    monkeypatch.setattr("landslide.prepare.stage.CHECKPOINT_S", 0.0)
    with pytest.raises(KeyboardInterrupt):
        run(raw, out, params(size=(48, 48)))
    assert not (out / COCO_NAME).exists() and not (out / METRICS_NAME).exists()
    assert not list((out / IMAGES_DIR).glob(".*.tmp"))
    monkeypatch.undo()

    s = run(raw, out, params(size=(48, 48)))
    assert (s.processed, s.skipped) == (5, 3)
    for im in coco(out)["images"]:
        with Image.open(out / IMAGES_DIR / im["file_name"]) as photo:
            assert photo.size == (48, 48)
