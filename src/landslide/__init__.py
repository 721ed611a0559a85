"""Landslide detection in photographs and orthomosaics with Mask R-CNN.

Each pipeline stage is a module with one pure function (explicit inputs and outputs);
the CLI (`landslide …`), the DVC stages and the Prefect flows are thin drivers of them.
"""

__version__ = "0.1.0"
