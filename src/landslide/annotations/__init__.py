"""Annotations: VIA files of every version in, COCO and VIA out.

    from landslide.annotations import load_annotations, read_via, write_coco

    ann = read_via(Path("via.json"), Path("images"), params.annotations, params.classes)
    ann = load_annotations(Path("via.json" or "coco.json"), Path("images"), params)
    write_coco(ann, Path("annotations.json"), params.classes)

Modules: `model` (the internal model), `records` (what a reader hands the region
parser), `document` (reading a JSON file, telling its layout), `via` (one small reader per
VIA layout) and `via_csv` (VIA's CSV export), `region_parser` (one VIA region -> a pending
region) and `regions` (the builder they all feed), `shapes` (VIA shape -> polygon),
`geometry` (clipping, degenerate and self-intersecting polygons, IoU), `classes`
(attribute values -> classes), `images` (safe names, lookup, upright size), `coco`,
`writers` (VIA 1/2/3), `stage` (what the CLI calls) and `diff` (what the annotator
changed). This is the data model: nothing here imports the model code. Pre-filling a
project with a model's polygons is an application, `landslide.prefill`.
"""

from landslide.annotations.coco import read_coco, to_coco, write_coco
from landslide.annotations.document import load_document
from landslide.annotations.model import Annotations, ImageAnn, Region
from landslide.annotations.stage import (
    AnnotationStats,
    annotation_stats,
    import_annotations,
    load_annotations,
    make_template,
)
from landslide.annotations.via import read_via
from landslide.annotations.writers import (
    template_project,
    via1_json,
    via2_project,
    via3_project,
    write_via1,
    write_via2,
    write_via3,
)

__all__ = [
    "AnnotationStats",
    "Annotations",
    "ImageAnn",
    "Region",
    "annotation_stats",
    "import_annotations",
    "load_annotations",
    "load_document",
    "make_template",
    "read_coco",
    "read_via",
    "template_project",
    "to_coco",
    "via1_json",
    "via2_project",
    "via3_project",
    "write_coco",
    "write_via1",
    "write_via2",
    "write_via3",
]
