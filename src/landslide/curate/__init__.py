"""The curation checkpoint: the photo catalogue, the decisions store, `apply`, the count.

A person decides, photo by photo, what goes into the curated set (the gallery page,
`landslide curate serve`); everything that page and the CLI do with files is a function
with explicit inputs and outputs here:

- `store`: where curation's files are (`CurationPaths`) and the decisions store
  (`decisions.csv`, one row per photo by sha256, behind a file lock: `DecisionStore`);
- `photos`: the scrape manifest's photos (`read_manifest`), the curated set's
  (`curated_photos`, `image_files`, `read_table`), thumbnails;
- `catalogue`: both, keyed by sha256, near-duplicates grouped (`load_catalogue`);
- `status`: the checkpoint, what still waits for a person (`checkpoint`);
- `apply`: accepted photos copied into the curated set, provenance and VIA project
  extended (`apply_decisions`);
- `app`, `routes`, `page`: the gallery (a Starlette app; import `landslide.curate.app`).
"""

from landslide.curate.apply import PROVENANCE_FIELDS, ApplySummary, apply_decisions
from landslide.curate.catalogue import (
    PHASH_CACHE,
    Catalogue,
    _phash,
    load_catalogue,
    near_duplicate_groups,
    perceptual_hashes,
)
from landslide.curate.photos import (
    IMAGE_SUFFIXES,
    MANIFEST_FIELDS,
    Photo,
    curated_photos,
    image_files,
    read_manifest,
    read_table,
    thumbnail,
)
from landslide.curate.status import CurationStatus, annotated_photos, checkpoint, curation_status
from landslide.curate.store import (
    DECISION_FIELDS,
    DECISIONS,
    LABELS,
    MANIFEST_NAME,
    MAX_NOTE,
    MAX_TEXT,
    PROVENANCE_NAME,
    REJECTED_DIR,
    SHA256,
    Change,
    CurationPaths,
    Decision,
    DecisionStore,
    clean_text,
    default_curator,
    read_decisions,
)

__all__ = [
    "DECISIONS",
    "DECISION_FIELDS",
    "IMAGE_SUFFIXES",
    "LABELS",
    "MANIFEST_FIELDS",
    "MANIFEST_NAME",
    "MAX_NOTE",
    "MAX_TEXT",
    "PHASH_CACHE",
    "PROVENANCE_FIELDS",
    "PROVENANCE_NAME",
    "REJECTED_DIR",
    "SHA256",
    "ApplySummary",
    "Catalogue",
    "Change",
    "CurationPaths",
    "CurationStatus",
    "Decision",
    "DecisionStore",
    "Photo",
    "_phash",
    "annotated_photos",
    "apply_decisions",
    "checkpoint",
    "clean_text",
    "curated_photos",
    "curation_status",
    "default_curator",
    "image_files",
    "load_catalogue",
    "near_duplicate_groups",
    "perceptual_hashes",
    "read_decisions",
    "read_manifest",
    "read_table",
    "thumbnail",
]
