"""Fuzz: mutated VIA and COCO files either load or fail with AnnotationError, nothing else.

A seeded loop (the same cases every run) mutates valid files of every layout: byte
flips, truncation, insertion of junk bytes, and, on the parsed JSON, deletion of a
key, a value swapped for one of another type, and a list emptied or duplicated.
"""

from __future__ import annotations

import copy
import json
import random
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from landslide.annotations import (
    Annotations,
    ImageAnn,
    Region,
    load_annotations,
    read_via,
    via1_json,
    via2_project,
    via3_project,
)
from landslide.annotations.coco import to_coco
from landslide.errors import AnnotationError
from landslide.params import CLASSES, AnnotationsParams, Params

VIA = Path(__file__).resolve().parent / "fixtures" / "via"  # from shared/testdata/via
CASES_PER_FILE = 90  # x 8 base files = 720 cases
SWAPS: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    3.5,
    float("nan"),
    float("inf"),
    10**30,
    "",
    "x",
    "../etc/passwd",
    "/abs/a.jpg",
    "landslide",
    [],
    [1, 2],
    ["a", None],
    {},
    {"name": "polygon"},
    {"landslide": True, "water": True},
]


def sample_annotations() -> Annotations:
    polygon = ((2, 2), (40, 3), (44, 30), (20, 44), (3, 25))
    return Annotations(
        images=[
            ImageAnn(
                "a.jpg",
                64,
                48,
                (
                    Region("landslide", polygon, 0, "polygon", (("note", "fresh"),)),
                    Region("water_body", ((5, 5), (30, 5), (30, 20), (5, 20)), 1, "rect"),
                ),
                (("caption", "hill"),),
            ),
            ImageAnn("b.png", 64, 48),
        ]
    )


def base_files(tmp: Path) -> list[tuple[str, bytes]]:
    ann = sample_annotations()
    dumps = [
        ("via1.json", json.dumps(via1_json(ann, "class"))),
        ("via2.json", json.dumps(via2_project(ann, CLASSES, "class"))),
        ("via3.json", json.dumps(via3_project(ann, CLASSES, "class"))),
        ("coco.json", json.dumps(to_coco(ann, CLASSES))),
    ]
    files = [(name, text.encode()) for name, text in dumps]
    for fixture in ("via1_all_shapes.csv", "via3_project_rects_remote_file.json"):
        files.append((fixture, (VIA / fixture).read_bytes()))
    csv = (
        "filename,file_size,file_attributes,region_count,region_id,"
        "region_shape_attributes,region_attributes\n"
        'a.jpg,1,"{}",2,0,"{""name"":""polygon"",""all_points_x"":[2,40,20],'
        '""all_points_y"":[2,3,40]}","{""class"":""landslide""}"\n'
        'a.jpg,1,"{}",2,1,"{""name"":""circle"",""cx"":30,""cy"":20,""r"":9}",'
        '"{""class"":""Water body""}"\n'
        'b.png,1,"{}",0,0,"{}","{}"\n'
    )
    files.append(("via2.csv", csv.encode()))
    files.append(("via2_export.json", json.dumps(via1_json(ann, "class")).encode()))
    return files


# ---------------------------------------------------------------------------- mutations


def flip_bytes(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(out))
        out[i] = rng.choice([rng.randrange(256), ord(rng.choice('{}[]",:0-.e\\ '))])
    return bytes(out)


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(len(data))]


def insert_junk(data: bytes, rng: random.Random) -> bytes:
    i = rng.randrange(len(data))
    junk = rng.choice([b"\x00", b"\xff\xfe", b'"', b",", b"}", b"NaN", b"\n\r", b"\xe2\x82"])
    return data[:i] + junk + data[i:]


def nodes(value: Any, path: tuple = ()) -> list[tuple]:
    """Paths to every value inside a JSON document."""
    out = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            out += nodes(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += nodes(v, (*path, i))
    return out


def at(doc: Any, path: tuple) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def mutate_json(data: bytes, rng: random.Random) -> bytes:
    doc = json.loads(data)
    doc = copy.deepcopy(doc)
    for _ in range(rng.randint(1, 3)):
        paths = [p for p in nodes(doc) if p]
        if not paths:
            break
        path = rng.choice(paths)
        parent, key = at(doc, path[:-1]), path[-1]
        action = rng.choice(["delete", "swap", "swap", "empty", "double"])
        if action == "delete":
            del parent[key]
        elif action == "swap":
            parent[key] = copy.deepcopy(rng.choice(SWAPS))
        elif action == "empty" and isinstance(parent[key], list | dict):
            parent[key] = type(parent[key])()
        elif action == "double" and isinstance(parent[key], list):
            parent[key] = parent[key] + parent[key]
    return json.dumps(doc).encode()


def mutate_csv(data: bytes, rng: random.Random) -> bytes:
    lines = data.decode().splitlines(keepends=True)
    i = rng.randrange(len(lines))
    cells = lines[i].split(",")
    j = rng.randrange(len(cells))
    cells[j] = rng.choice(
        ['""', '"{}"', "x", '"[1,2]"', '"{""name"":5}"', "", '"{""class"":null}"']
    )
    lines[i] = ",".join(cells)
    if rng.random() < 0.3:
        del lines[rng.randrange(len(lines))]
    return "".join(lines).encode()


MUTATIONS: list[Callable[[bytes, random.Random], bytes]] = [flip_bytes, truncate, insert_junk]


def mutate(name: str, data: bytes, rng: random.Random) -> bytes:
    structural = mutate_csv if name.endswith(".csv") else mutate_json
    return rng.choice([*MUTATIONS, structural, structural, structural])(data, rng)


# ---------------------------------------------------------------------------- the test


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fuzz_images")
    for name in ("a.jpg", "b.png", "test_pattern_qbist.jpg", "adutta_swan.jpg"):
        Image.new("RGB", (64, 48)).save(root / name)
    (root / "sinus_test_pattern.jpg").write_bytes(b"not an image")
    return root


def test_mutated_files_fail_only_with_annotation_error(tmp_path: Path, images: Path) -> None:
    params = Params(
        annotations=AnnotationsParams(
            synonyms={**AnnotationsParams().synonyms, "landslide": ['ellipse "red"', "Swan"]},
            missing_image="skip",
        )
    )
    rng = random.Random(20240601)
    cases = loaded = failed = 0
    for name, data in base_files(tmp_path):
        for _ in range(CASES_PER_FILE):
            mutated = mutate(name, data, rng)
            path = tmp_path / name
            path.write_bytes(mutated)
            images_dir = images if rng.random() < 0.3 else None
            cases += 1
            try:
                if name.startswith("coco") or rng.random() < 0.2:
                    ann = load_annotations(path, images_dir, params)
                else:
                    ann = read_via(path, images_dir, params.annotations, params.classes)
            except AnnotationError as exc:
                failed += 1
                assert exc.file and exc.message, exc
                assert "\n" not in exc.message
            except Exception as exc:  # the point of the test: anything else is a bug
                keep = tmp_path.parent / f"fuzz-failure-{name}"
                shutil.copyfile(path, keep)
                raise AssertionError(
                    f"{name} case {cases}: {type(exc).__name__}: {exc} (input kept in {keep})"
                ) from exc
            else:
                loaded += 1
                assert isinstance(ann, Annotations)
    assert cases >= 500
    assert loaded > 50 and failed > 50  # both outcomes are exercised
