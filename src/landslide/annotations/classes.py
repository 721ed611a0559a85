"""Attribute values -> the classes of Params, through the synonym map.

Matching is case-insensitive and ignores surrounding spaces; `_`, `-` and runs of
spaces count as one space, so `Water body`, `water_body` and `WATER-BODY` are the
same word. A class name always maps to itself; synonyms of classes that are not in
Params are ignored (their values are then unknown).

A value may be a string (text, dropdown, radio), a number, or a checkbox object
(`{"landslide": true}`, exactly one checked). Option ids of dropdowns, radios and
checkboxes are looked up both as written and through the option labels the file
declares.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any


class ClassValueError(ValueError):
    """A class value that is empty, ambiguous or unknown (the message says which)."""


def normalise(text: str) -> str:
    return " ".join(text.replace("_", " ").replace("-", " ").split()).casefold()


class ClassMap:
    def __init__(self, classes: Sequence[str], synonyms: Mapping[str, Sequence[str]]) -> None:
        self.classes = list(classes)
        table: dict[str, str] = {}
        for cls, words in synonyms.items():
            if cls in self.classes:
                for word in words:
                    table[normalise(word)] = cls
        for cls in self.classes:
            table[normalise(cls)] = cls  # a class name wins over any synonym
        self._table = table
        self._cache: dict[str, str | None] = {}

    def known(self) -> str:
        return ", ".join(self.classes)

    def lookup(self, word: str) -> str | None:
        try:
            return self._cache[word]
        except KeyError:
            found = self._cache[word] = self._table.get(normalise(word))
            return found

    def label(self, value: Any, options: Mapping[str, str] | None = None) -> str:
        """The class for an attribute value; ClassValueError when there is none."""
        if type(value) is str:
            found = self._cache.get(value) if not options else None
            if found is not None:
                return found
        word = checked_word(value)
        candidates = [word]
        if options and word in options and isinstance(options[word], str):
            candidates.append(options[word])
        for candidate in candidates:
            found = self.lookup(candidate)
            if found is not None:
                return found
        shown = " / ".join(repr(c) for c in dict.fromkeys(candidates))
        raise ClassValueError(f"class {shown} unknown (known: {self.known()})")


def checked_word(value: Any) -> str:
    """The single word an attribute value holds (trimmed), or ClassValueError."""
    if isinstance(value, str):
        if not value.strip():
            raise ClassValueError("class is empty")
        return value.strip()
    if isinstance(value, bool) or value is None:
        raise ClassValueError(f"class is {json.dumps(value)}, expected a name")
    if isinstance(value, int | float):
        return value_text(value)
    if isinstance(value, dict):
        checked = [k for k, v in value.items() if v is True]
        if len(checked) == 1:
            return checked[0].strip()
        if not checked:
            raise ClassValueError("class is a checkbox with nothing checked")
        raise ClassValueError(f"class is a checkbox with several checked: {', '.join(checked)}")
    raise ClassValueError(f"class is a {type(value).__name__}, expected a name")


def value_text(value: Any, options: Mapping[str, str] | None = None) -> str:
    """Any attribute value as text: option ids become their labels, checkboxes a list."""
    if isinstance(value, str):
        label = options.get(value) if options else None
        return label if isinstance(label, str) else value
    if isinstance(value, dict) and all(isinstance(v, bool) for v in value.values()):
        return ",".join(value_text(k, options) for k, v in value.items() if v)
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
