"""Dataset cards: small YAML files that say where a dataset lives and how to read it.

Cards are data, not code, so adding a dataset (or bringing your own) never means writing a reader
class. Every key is validated on load: a typo in a card is a one-line ``DataError``, never a silently
ignored setting. The schema is documented in ``datasets/README.md``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vlcat.errors import DataError
from vlcat.paths import datasets_dir

READERS = (
    "split_json",
    "fgvc_aircraft",
    "imagenet",
    "imagenet_v2",
    "imagenet_wnids",
    "image_folder",
    "csv",
)
KINDS = ("benchmark", "custom")
DEFAULT_TEMPLATE = "a photo of a {}."
DEFAULT_DOMAIN = "images of everyday categories"

# Keys every card may have, and the reader-specific keys each reader accepts. A key that belongs to
# another reader is rejected too: it would be silently ignored otherwise.
_COMMON_KEYS = {
    "name", "kind", "title", "reader", "folder", "image_dir", "num_classes", "classname_fixes",
    "replace_underscores", "template", "templates", "method_templates", "domain_prompts", "domain", "prepare", "notes",
}
_READER_KEYS: dict[str, set[str]] = {
    "split_json": {"split_file", "paths_relative_to"},
    "fgvc_aircraft": {"classes_file", "split_files", "image_ext"},
    "imagenet": {"classes_file", "train_dir", "test_dir"},
    "imagenet_v2": {"classes_file"},
    "imagenet_wnids": {"classes_file"},
    "image_folder": {"layout", "split_ratios", "split_seed"},
    "csv": {"split_file", "paths_relative_to", "classnames", "split_ratios", "split_seed"},
}
_REQUIRED = {
    "split_json": ("split_file",),
    "fgvc_aircraft": ("classes_file", "split_files"),
    "imagenet": ("classes_file",),
    "imagenet_v2": ("classes_file",),
    "imagenet_wnids": ("classes_file",),
    "image_folder": (),
    "csv": ("split_file",),
}
_BENCHMARK_REQUIRED = ("template", "domain", "prepare")


@dataclass
class DatasetCard:
    """A validated card; paths in it are still relative (resolved against the DATA root by readers)."""

    name: str
    reader: str
    folder: str
    kind: str = "benchmark"
    title: str = ""
    image_dir: str = "."
    split_file: str | None = None
    paths_relative_to: str = "image_dir"
    classes_file: str | None = None
    split_files: dict[str, str] = field(default_factory=dict)
    image_ext: str = ".jpg"
    train_dir: str = "train"
    test_dir: str = "val"
    layout: str = "auto"
    split_ratios: tuple[float, float, float] = (0.5, 0.2, 0.3)
    split_seed: int = 1
    classnames: list[str] | None = None
    num_classes: int | None = None
    classname_fixes: dict[str, str] = field(default_factory=dict)
    replace_underscores: bool = True
    template: str = DEFAULT_TEMPLATE
    templates: list[str] = field(default_factory=list)
    method_templates: dict[str, str] = field(default_factory=dict)
    """A method's own hand-written prompt for this dataset, by learner name, where its authors' code
    differs from CoOp's (KgCoOp's and ProGrad's CUSTOM_TEMPLATES): the dataset's knowledge lives on its card."""
    domain_prompts: list[str] = field(default_factory=list)
    """Hand-written prompts a practitioner would try for this dataset, written from its ``domain`` before any
    measurement: what the oracle proposer (``catalyst.proposer=oracle``) races, the ceiling of what a
    perfect LLM could hand the catalyst."""
    domain: str = DEFAULT_DOMAIN
    prepare: str = ""
    notes: str = ""
    source: str = ""  # the card file (or spec) it came from, for error messages

    def where(self) -> str:
        """Where to read about preparing this dataset, for error messages."""
        if self.prepare:
            return f"see datasets/DATASETS.md, section '{self.prepare}'"
        return "see datasets/README.md for the custom-dataset layouts"

    def all_templates(self) -> list[str]:
        """The ensemble with the hand-written template first, without duplicates."""
        out = [self.template]
        for t in self.templates:
            if t not in out:
                out.append(t)
        return out


def list_cards() -> list[str]:
    """Names of the cards shipped in the datasets folder, sorted."""
    folder = datasets_dir()
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.yaml") if not p.name.startswith("."))


def _fail(source: str, msg: str) -> DataError:
    return DataError(f"dataset card {source}: {msg}")


def _check_template(source: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or value.count("{}") != 1:
        raise _fail(source, f"'{key}' must be a string with one '{{}}' for the class name, got {value!r}")
    return value


def _as_str(source: str, key: str, value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):  # YAML reads a folder named 2750 as a number
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise _fail(source, f"'{key}' must be a non-empty string, got {value!r}")
    return value


def card_from_dict(data: Any, *, source: str, default_name: str) -> DatasetCard:
    """Validate a parsed card; reject unknown keys and keys that do not belong to the card's reader."""
    if not isinstance(data, dict):
        raise _fail(source, "must be a YAML mapping of keys to values")
    reader = data.get("reader")
    if reader not in READERS:
        raise _fail(source, f"'reader' must be one of {', '.join(READERS)}, got {reader!r}")
    allowed = _COMMON_KEYS | _READER_KEYS[reader]
    unknown = sorted(set(map(str, data)) - allowed)
    if unknown:
        raise _fail(
            source,
            f"unknown key(s) {', '.join(unknown)} for reader {reader}; allowed: {', '.join(sorted(allowed))}",
        )
    kind = data.get("kind", "benchmark")
    if kind not in KINDS:
        raise _fail(source, f"'kind' must be one of {', '.join(KINDS)}, got {kind!r}")
    missing = [k for k in ("folder", *_REQUIRED[reader]) if k not in data]
    if kind == "benchmark":
        missing += [k for k in _BENCHMARK_REQUIRED if k not in data]
    if missing:
        raise _fail(source, f"missing required key(s) {', '.join(missing)}")

    name = data.get("name", default_name)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
        raise _fail(source, f"'name' must be letters, digits, '_', '-' or '.', got {name!r}")
    card = DatasetCard(name=name, reader=reader, folder=_as_str(source, "folder", data["folder"]),
                       kind=kind, source=source)
    folder = Path(card.folder)
    if folder.is_absolute() and kind != "custom":
        raise _fail(source, "'folder' must be relative to the DATA root (absolute folders need kind: custom)")

    for key in ("title", "notes", "prepare", "domain"):
        if key in data:
            setattr(card, key, _as_str(source, key, data[key]))
    for key in ("image_dir", "split_file", "classes_file", "train_dir", "test_dir"):
        if key in data:
            setattr(card, key, _as_str(source, key, data[key]))
    if "paths_relative_to" in data:
        if data["paths_relative_to"] not in ("image_dir", "folder"):
            raise _fail(source, "'paths_relative_to' must be image_dir or folder")
        card.paths_relative_to = data["paths_relative_to"]
    if "image_ext" in data:
        card.image_ext = _as_str(source, "image_ext", data["image_ext"])
    if "split_files" in data:
        sf = data["split_files"]
        if not isinstance(sf, dict) or set(sf) != {"train", "val", "test"}:
            raise _fail(source, "'split_files' must map exactly train, val and test to file names")
        card.split_files = {k: _as_str(source, f"split_files.{k}", v) for k, v in sf.items()}
    if "layout" in data:
        if data["layout"] not in ("auto", "split_dirs", "flat"):
            raise _fail(source, "'layout' must be auto, split_dirs or flat")
        card.layout = data["layout"]
    if "split_ratios" in data:
        r = data["split_ratios"]
        ok = isinstance(r, list) and len(r) == 3 and all(isinstance(x, int | float) and x >= 0 for x in r)
        if not ok or abs(sum(r) - 1.0) > 1e-6 or r[0] <= 0:
            raise _fail(source, f"'split_ratios' must be [train, val, test] summing to 1, got {r!r}")
        card.split_ratios = (float(r[0]), float(r[1]), float(r[2]))
    if "split_seed" in data:
        if not isinstance(data["split_seed"], int) or isinstance(data["split_seed"], bool):
            raise _fail(source, "'split_seed' must be an integer")
        card.split_seed = data["split_seed"]
    if "classnames" in data:
        cn = data["classnames"]
        if not isinstance(cn, list) or not cn or not all(isinstance(c, str) and c for c in cn):
            raise _fail(source, "'classnames' must be a non-empty list of strings")
        card.classnames = list(cn)
    if "num_classes" in data:
        n = data["num_classes"]
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise _fail(source, f"'num_classes' must be a positive integer, got {n!r}")
        card.num_classes = n
    if "classname_fixes" in data:
        fx = data["classname_fixes"]
        if not isinstance(fx, dict) or not all(isinstance(x, str) for kv in fx.items() for x in kv):
            raise _fail(source, "'classname_fixes' must map raw class names to cleaned ones (strings)")
        card.classname_fixes = dict(fx)
    if "replace_underscores" in data:
        if not isinstance(data["replace_underscores"], bool):
            raise _fail(source, "'replace_underscores' must be true or false")
        card.replace_underscores = data["replace_underscores"]
    if "template" in data:
        card.template = _check_template(source, "template", data["template"])
    if "templates" in data:
        ts = data["templates"]
        if not isinstance(ts, list):
            raise _fail(source, "'templates' must be a list of strings")
        card.templates = [_check_template(source, "templates", t) for t in ts]
    if "domain_prompts" in data:
        dp = data["domain_prompts"]
        if not isinstance(dp, list) or not dp:
            raise _fail(source, "'domain_prompts' must be a non-empty list of templates with one '{}' each")
        card.domain_prompts = [_check_template(source, "domain_prompts", t) for t in dp]
    if "method_templates" in data:
        mt = data["method_templates"]
        if not isinstance(mt, dict) or not all(isinstance(k, str) for k in mt):
            raise _fail(source, "'method_templates' must map learner names to templates")
        card.method_templates = {k: _check_template(source, f"method_templates.{k}", v) for k, v in mt.items()}
    return card


def load_card_file(path: str | Path) -> DatasetCard:
    """Parse and validate one card file."""
    path = Path(path).expanduser()
    if not path.is_file():
        known = ", ".join(list_cards())
        raise DataError(f"dataset card {path} not found; give a card name ({known}) or a card file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        reason = " ".join(str(exc).split())
        raise DataError(f"dataset card {path} is not valid YAML ({reason}); fix the file") from exc
    return card_from_dict(data, source=str(path), default_name=path.stem)


def _spec_card(reader: str, target: str) -> DatasetCard:
    """A card for ``folder:PATH`` / ``csv:PATH`` so users can point at their data with no card file."""
    if not target:
        raise DataError(f"'{reader}:' needs a path after the colon, e.g. folder:/data/my_images")
    p = Path(target).expanduser()  # relative: against the current folder, see loading.dataset_dir
    name = re.sub(r"[^A-Za-z0-9_.\-]+", "_", (p.stem if reader == "csv" else p.name) or "custom")
    if reader == "image_folder":
        data = {"reader": "image_folder", "kind": "custom", "folder": str(p)}
    else:
        data = {"reader": "csv", "kind": "custom", "folder": str(p.parent), "split_file": p.name,
                "paths_relative_to": "folder"}
    return card_from_dict(data, source=f"{reader}:{target}", default_name=name)


def _spec_hint(text: str) -> str | None:
    """A folder or CSV file given where a card is expected: say which spec the user meant."""
    p = Path(text).expanduser()
    if p.is_dir():
        return (f"data.dataset={text} is a folder, not a dataset card; did you mean folder:{text} "
                "(an image-folder tree, see datasets/README.md)?")
    if p.suffix.lower() == ".csv" and p.is_file():
        return f"data.dataset={text} is a CSV file, not a dataset card; did you mean csv:{text}?"
    return None


def resolve_card(name: str | Path) -> DatasetCard:
    """Turn what a user wrote (card name, card path, ``folder:``/``csv:`` spec) into a validated card."""
    text = str(name)
    if text.startswith("folder:"):
        return _spec_card("image_folder", text[len("folder:"):])
    if text.startswith("csv:"):
        return _spec_card("csv", text[len("csv:"):])
    hint = _spec_hint(text)
    if hint:
        raise DataError(hint)
    if isinstance(name, Path) or text.endswith((".yaml", ".yml")) or os.sep in text or "/" in text:
        return load_card_file(text)
    known = list_cards()
    path = datasets_dir() / f"{text}.yaml"
    if text not in known or not path.is_file():
        raise DataError(
            f"unknown dataset '{text}'; known: {', '.join(known) or '(none in ' + str(datasets_dir()) + ')'}"
            " (or give a card file, folder:PATH or csv:PATH)"
        )
    return load_card_file(path)
