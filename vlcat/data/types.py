"""The two value types every other part of vlcat sees from the data layer.

A split is plain lists of small frozen records rather than framework objects, so that it can be written
to JSON, compared in tests and passed between processes without pickling anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Datum:
    """One labelled image; frozen so it can be hashed and shared safely, slotted because ImageNet has 1.3M."""

    path: str  # absolute image path
    label: int
    classname: str

    def to_row(self) -> list:
        """The ``[path, label, classname]`` row used by CoOp's split files and our few-shot cache."""
        return [self.path, self.label, self.classname]


@dataclass
class DatasetSplits:
    """A dataset ready for training: three labelled lists plus what prompt learners need to know.

    ``classnames[i]`` is the prompt-ready name of label ``i`` (card clean-ups already applied), so a
    learner never needs to repeat CoOp's ``replace("_", " ")``. The fields after ``skipped`` describe
    where the split came from; they have defaults so hand-built splits (tests, the synthetic world)
    stay short.
    """

    name: str
    train: list[Datum]
    val: list[Datum]
    test: list[Datum]
    classnames: list[str]
    template: str
    templates: list[str]
    domain: str
    skipped: list[str] = field(default_factory=list)
    root: str = ""  # absolute DATA root the split was read from ("" when built by hand)
    dataset_dir: str = ""  # absolute folder of this dataset
    subset: str = "all"  # "all" | "base" | "novel", set by subsample_classes
    num_shots: int | None = None  # K of the few-shot sample; None = full split
    seed: int | None = None  # seed of the few-shot sample
    lists_sha256: str = ""  # digest of the lists as read (see loading.lists_digest), for run records
    method_templates: dict[str, str] = field(default_factory=dict)  # the card's, by learner name
    domain_prompts: list[str] = field(default_factory=list)  # the card's hand-written prompts (oracle proposer)

    @property
    def num_classes(self) -> int:
        return len(self.classnames)

    def sizes(self) -> dict[str, int]:
        """Split sizes as run records store them."""
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}
