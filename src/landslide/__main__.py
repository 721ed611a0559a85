"""`python -m landslide …` is the same as the `landslide` command."""

from landslide.cli import app

app(prog_name="landslide")
