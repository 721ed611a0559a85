"""Set A and Set B, as in the study: shared val and test, B's train nested in A's.

    from landslide.split import split
    summary = split(Path("data/processed/annotations.json"), images, out_dir, params.split, classes)

`stage` runs the stage (reads the prepared COCO file and the previous assignment,
writes the manifests and the summary; its docstring lists what the stage guarantees),
`photos` hashes the photos and groups near-duplicates, `apportion` sets the sizes and
assigns groups to splits.
"""

from landslide.split.apportion import SPLITS, STRATA
from landslide.split.photos import SOURCE_DIGEST, Group, Photo
from landslide.split.stage import ASSIGNMENT, SplitSummary, read_prepared, split, summary_markdown

__all__ = [
    "ASSIGNMENT",
    "SOURCE_DIGEST",
    "SPLITS",
    "STRATA",
    "Group",
    "Photo",
    "SplitSummary",
    "read_prepared",
    "split",
    "summary_markdown",
]
