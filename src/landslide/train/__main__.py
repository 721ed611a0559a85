"""`python -m landslide.train ...` (and torchrun): the same options as `landslide train`.

    torchrun --nproc_per_node=N -m landslide.train --backbone ... --set ...

An entry point (interfaces layer): it runs the CLI's `train` command.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m landslide.train ...` (and torchrun): the same options as `landslide train`."""
    from landslide.cli import app

    app(["train", *(sys.argv[1:] if argv is None else argv)], prog_name="landslide.train")


if __name__ == "__main__":
    main()
