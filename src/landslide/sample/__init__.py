"""The embedded synthetic sample: hillside photos with landslides, annotated in VIA.

    from landslide.sample import generate_sample
    summary = generate_sample(Path("data/raw"), params.sample, params.classes)

`project` writes the sample (photos, VIA project, provenance, decisions); `photo`
composes one photo from `plan` (names, sizes, seeded streams), `scene` (sky, terrain,
haze, camera), `shapes` (object outlines and their placement), `paint` (textures
through soft masks) and `negatives` (unannotated look-alikes), with `noise` and
`palette` underneath.
"""

from landslide.sample.project import DECISION_FIELDS, SampleSummary, generate_sample

__all__ = ["DECISION_FIELDS", "SampleSummary", "generate_sample"]
