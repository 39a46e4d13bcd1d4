"""Base/novel class split (CoCoOp convention) and its order relative to few-shot sampling."""

from __future__ import annotations

import pytest

from vlcat.data import DatasetSplits, Datum, sample_fewshot, subsample_classes
from vlcat.errors import DataError


def five_classes() -> DatasetSplits:
    def items(split, n):
        return [Datum(f"/d/{split}/{y}_{i}.png", y, f"c{y}") for i in range(n) for y in range(5)]

    return DatasetSplits("five", items("tr", 4), items("va", 2), items("te", 3), [f"c{y}" for y in range(5)],
                         "a {}.", ["a {}."], "things")


def test_base_and_novel_relabel():
    s = five_classes()
    base = subsample_classes(s, "base")
    novel = subsample_classes(s, "novel")
    assert base.classnames == ["c0", "c1", "c2"] and novel.classnames == ["c3", "c4"]  # ceil(5/2) = 3 base
    assert base.subset == "base" and novel.subset == "novel"
    for sub, offset in ((base, 0), (novel, 3)):
        for split in ("train", "val", "test"):
            items = getattr(sub, split)
            assert {d.label for d in items} == set(range(len(sub.classnames)))
            assert all(d.classname == f"c{d.label + offset}" for d in items)
            assert all(f"/{d.label + offset}_" in d.path for d in items)
    assert len(base.train) == 12 and len(novel.test) == 6
    assert subsample_classes(s, "new").classnames == novel.classnames  # CoCoOp's spelling
    same = subsample_classes(s, "all")
    assert same.train == s.train and same.subset == "all"


def test_even_class_count_and_errors():
    s = five_classes()
    s.classnames = s.classnames[:4]
    for split in ("train", "val", "test"):
        setattr(s, split, [d for d in getattr(s, split) if d.label < 4])
    assert subsample_classes(s, "base").classnames == ["c0", "c1"]
    with pytest.raises(DataError, match="class subset must be one of"):
        subsample_classes(s, "half")
    with pytest.raises(DataError, match="already the base subset"):
        subsample_classes(subsample_classes(s, "base"), "novel")


def test_sampling_must_come_first():
    s = five_classes()
    sampled = subsample_classes(sample_fewshot(s, 2, 1, None), "base")
    assert len(sampled.train) == 6
    with pytest.raises(DataError, match="before subsample_classes"):
        sample_fewshot(subsample_classes(s, "base"), 2, 1, None)
