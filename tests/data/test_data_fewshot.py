"""Few-shot sampling: CoOp equality, determinism, shortages, and the JSON cache."""

from __future__ import annotations

import json
import random

import pytest

from vlcat.data import DatasetSplits, Datum, fewshot_cache, load_dataset, sample_fewshot
from vlcat.data import fewshot as fewshot_mod
from vlcat.errors import DataError


def coop_reference(train: list[Datum], val: list[Datum], k: int, seed: int, repeat: bool):
    """CoOp's rules, written independently: global ``random`` seeded once, per-label groups in order of
    first appearance, ``random.sample`` (or ``random.choices`` when short and repeating), then the
    validation list with min(k, 4) shots on the same generator."""
    random.seed(seed)
    out = []
    for items, shots in ((train, k), (val, min(k, 4))):
        groups: dict[int, list[Datum]] = {}
        for d in items:
            if d.label not in groups:
                groups[d.label] = []
            groups[d.label].append(d)
        picked = []
        for label in groups:
            g = groups[label]
            if len(g) >= shots:
                picked += random.sample(g, shots)
            elif repeat:
                picked += random.choices(g, k=shots)
            else:
                picked += g
        out.append(picked)
    return out


def synthetic_splits(sizes=(20, 9, 14, 30), val_size=6, name="toy") -> DatasetSplits:
    """Hand-built splits (no files needed for sampling) with labels first appearing out of order."""
    rng = random.Random(123)
    train, val = [], []
    order = [2, 0, 3, 1]
    for y in order:
        train += [Datum(f"/d/{name}/tr/{y}_{i}.png", y, f"c{y}") for i in range(sizes[y])]
        val += [Datum(f"/d/{name}/va/{y}_{i}.png", y, f"c{y}") for i in range(val_size)]
    rng.shuffle(train)
    rng.shuffle(val)
    test = [Datum(f"/d/{name}/te/{y}.png", y, f"c{y}") for y in range(4)]
    return DatasetSplits(name, train, val, test, [f"c{y}" for y in range(4)], "a {}.", ["a {}."], "toys",
                         root="/d", dataset_dir=f"/d/{name}")


@pytest.mark.parametrize("k,seed", [(1, 1), (2, 2), (4, 3), (8, 1), (9, 7)])
def test_equals_coop_reference(k, seed):
    s = synthetic_splits()
    got = sample_fewshot(s, k, seed, None)
    ref_train, ref_val = coop_reference(s.train, s.val, k, seed, repeat=False)
    assert got.train == ref_train and got.val == ref_val
    assert got.test == s.test and got.num_shots == k and got.seed == seed
    assert len(got.train) == 4 * k and len(got.val) == 4 * min(k, 4)


def test_repeat_equals_coop_reference_and_warn_mode():
    s = synthetic_splits()
    got = sample_fewshot(s, 16, 5, None, repeat=True)
    ref_train, ref_val = coop_reference(s.train, s.val, 16, 5, repeat=True)
    assert got.train == ref_train and got.val == ref_val and len(got.train) == 64
    with pytest.warns(UserWarning, match="fewer than 16 train images"):
        got = sample_fewshot(s, 16, 5, None)  # the default, as CoOp: keep all images of a short class
    ref_train, ref_val = coop_reference(s.train, s.val, 16, 5, repeat=False)
    assert got.train == ref_train and got.val == ref_val
    assert len(got.train) == 16 + 9 + 14 + 16


def test_determinism_and_no_global_state():
    s = synthetic_splits()
    random.seed(999)
    before = random.random()
    random.seed(999)
    a = sample_fewshot(s, 4, 1, None)
    assert random.random() == before  # the global generator is untouched
    b = sample_fewshot(s, 4, 1, None)
    c = sample_fewshot(s, 4, 2, None)
    assert a.train == b.train and a.val == b.val
    assert a.train != c.train


def test_on_real_tree_matches_reference(data_root, build):
    card = build.split_json_tree(data_root, "oxford_pets", ["a", "b", "c"], counts=(6, 5, 1))
    s = load_dataset(card, data_root)
    got = sample_fewshot(s, 2, 3, None)
    assert (got.train, got.val) == tuple(coop_reference(s.train, s.val, 2, 3, repeat=False))


def test_too_few_is_an_error_naming_class_and_count():
    s = synthetic_splits()
    with pytest.raises(DataError, match=r"class 'c1' \(label 1\) has only 9 train image\(s\)") as e:
        sample_fewshot(s, 10, 1, None, on_too_few="error")
    assert "\n" not in str(e.value)


def test_too_few_val_keeps_all_like_coop():
    """CoOp's val sampling takes every image of a class with fewer than min(K, 4): no error."""
    s = synthetic_splits(val_size=3)
    out = sample_fewshot(s, 8, 1, None)
    counts = {y: sum(d.label == y for d in out.val) for y in range(s.num_classes)}
    assert set(counts.values()) == {3}


@pytest.mark.parametrize("k", [0, -2, 1.5, True, "4"])
def test_bad_num_shots(k):
    with pytest.raises(DataError, match="num_shots"):
        sample_fewshot(synthetic_splits(), k, 1, None)


def test_all_shots_and_bad_options():
    s = synthetic_splits()
    full = sample_fewshot(s, -1, 1, None)
    assert full.train == s.train and full.num_shots is None
    with pytest.raises(DataError, match="on_too_few"):
        sample_fewshot(s, 1, 1, None, on_too_few="ignore")
    with pytest.raises(DataError, match="seed"):
        sample_fewshot(s, 1, "1", None)


def test_empty_val_stays_empty_like_imagenet():
    s = synthetic_splits()
    s.val = []
    got = sample_fewshot(s, 3, 1, None)
    assert got.val == [] and got.train == coop_reference(s.train, [], 3, 1, False)[0]


def test_evaluation_only_dataset():
    s = synthetic_splits()
    s.train = []
    with pytest.raises(DataError, match="evaluation only"):
        sample_fewshot(s, 1, 1, None)


def _files(d):
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def test_cache_roundtrip_and_invalidation(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    s = synthetic_splits()
    a = sample_fewshot(s, 4, 1, cache)
    files = _files(cache)
    assert len(files) == 1 and files[0].startswith("toy_k4_seed1_") and files[0].endswith(".json")
    data = json.loads((cache / files[0]).read_text())
    assert data["key"]["num_shots"] == 4 and data["key"]["seed"] == 1 and data["key"]["dataset"] == "toy"
    assert data["train"][0] == [a.train[0].path[len("/d/toy/"):], a.train[0].label, a.train[0].classname]

    # a second call reads the file instead of sampling
    def boom(*args, **kwargs):
        raise AssertionError("sampled again instead of using the cache")

    monkeypatch.setattr(fewshot_mod, "_draw", boom)
    b = sample_fewshot(s, 4, 1, cache)
    assert b.train == a.train and b.val == a.val and b.num_shots == 4
    monkeypatch.undo()

    # K, seed, repeat and the split content each select a different cache entry
    c = sample_fewshot(s, 2, 1, cache)
    d = sample_fewshot(s, 4, 2, cache)
    e = sample_fewshot(s, 4, 1, cache, repeat=True)
    assert len(_files(cache)) == 4
    assert len(c.train) == 8 and d.train != a.train and e.train == a.train  # no short class: same draws
    changed = synthetic_splits()
    changed.train = changed.train[:-1]  # one image fewer, e.g. an edited split file
    f = sample_fewshot(changed, 4, 1, cache)
    assert len(_files(cache)) == 5
    assert f.train == coop_reference(changed.train, changed.val, 4, 1, False)[0]
    other = synthetic_splits(name="other")
    sample_fewshot(other, 4, 1, cache)
    assert len(_files(cache)) == 6


def test_cache_invalidated_by_changed_split_file(tmp_path, data_root, build):
    card = build.split_json_tree(data_root, "dtd", ["banded", "dotted"], counts=(6, 3, 1))
    cache = tmp_path / "cache"
    a = sample_fewshot(load_dataset(card, data_root), 3, 1, cache)
    split_path = data_root / "dtd" / "split_zhou_DescribableTextures.json"
    split = json.loads(split_path.read_text())
    split["train"] = split["train"][2:]  # drop two training images
    split_path.write_text(json.dumps(split))
    s2 = load_dataset(card, data_root)
    b = sample_fewshot(s2, 3, 1, cache)
    assert len(_files(cache)) == 2
    assert b.train == coop_reference(s2.train, s2.val, 3, 1, False)[0]
    assert set(b.train) <= set(s2.train) and a.train != b.train


def test_tampered_or_corrupt_cache_is_resampled(tmp_path):
    cache = tmp_path / "cache"
    s = synthetic_splits()
    a = sample_fewshot(s, 4, 1, cache)
    path = cache / _files(cache)[0]
    data = json.loads(path.read_text())
    data["key"]["seed"] = 2
    path.write_text(json.dumps(data))
    with pytest.warns(UserWarning, match="key does not match"):
        b = sample_fewshot(s, 4, 1, cache)
    assert b.train == a.train
    assert json.loads(path.read_text())["key"]["seed"] == 1  # rewritten
    path.write_text("{not json")
    with pytest.warns(UserWarning, match="ignoring few-shot cache"):
        assert sample_fewshot(s, 4, 1, cache).train == a.train
    data = json.loads(path.read_text())
    data["train"][0][0] = "tr/not_in_split.png"
    path.write_text(json.dumps(data))
    with pytest.warns(UserWarning, match="not in the split"):
        assert sample_fewshot(s, 4, 1, cache).train == a.train


def test_cache_write_is_atomic(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    s = synthetic_splits()

    def failing_dump(obj, fh, **kwargs):
        fh.write('{"key": ')
        raise OSError("disk full")

    monkeypatch.setattr(fewshot_cache.json, "dump", failing_dump)
    with pytest.raises(DataError, match="cannot write few-shot cache"):
        sample_fewshot(s, 4, 1, cache)
    assert _files(cache) == []  # no partial file, no temp file


def test_cache_refuses_data_root(data_root, build):
    card = build.split_json_tree(data_root, "oxford_pets", ["a", "b"], counts=(2, 1, 1))
    s = load_dataset(card, data_root)
    with pytest.raises(DataError, match="inside the data root"):
        sample_fewshot(s, 1, 1, data_root / "oxford_pets" / "split_fewshot")
    assert not (data_root / "oxford_pets" / "split_fewshot").exists()
