"""What every reader returns: entries with raw class names, before clean-ups and existence checks."""

from __future__ import annotations

from dataclasses import dataclass, field

# A reader entry before class names are cleaned: (absolute path, label, raw class name). Tuples, not
# Datum objects, because ImageNet has 1.3M of them and they are rebuilt once with the cleaned names.
Entry = tuple[str, int, str]


@dataclass
class RawSplits:
    train: list[Entry]
    val: list[Entry]
    test: list[Entry]
    classnames: list[str] | None = None  # raw name per label, when the reader knows the full class list
    listed: bool = True  # entries come from a list file, so the images may not exist
    skipped: list[str] = field(default_factory=list)
    source: str = ""  # the file the labels came from, for error messages
