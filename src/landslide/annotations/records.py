"""The records every VIA layout reader hands the region builder (`regions`).

A reader (`via`, `via_csv`) only walks its own structure into one `RawImage` per image,
holding VIA 2-style region objects (`{"shape_attributes": {...}, "region_attributes":
{name: value}}`; VIA 2 files' own lists are used as they are), and the options of the
file's dropdown, radio and checkbox attributes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Options = dict[str, dict[str, str]]  # attribute name -> option id -> label


@dataclass(slots=True)
class RawImage:
    name: Any  # the file name as written
    entry: str  # how the file names this record, for messages (a key, a line)
    regions: list[Any] = field(default_factory=list)  # VIA 2-style region objects
    attributes: Any = None  # file attributes, name -> value
    indices: list[int] | None = None  # region numbers when not 0, 1, ... (VIA 1 keys)
    lines: list[int] | None = None  # CSV line of each region


@dataclass(slots=True)
class RawProject:
    layout: str
    images: list[RawImage]
    region_options: Options = field(default_factory=dict)
    file_options: Options = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
