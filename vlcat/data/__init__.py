"""Datasets: cards, readers of the CoOp layouts, CoOp-exact few-shot sampling, base/novel classes.

Typical use::

    splits = load_dataset("oxford_pets", "/data")            # or "folder:/my/images", "csv:/my/list.csv"
    splits = sample_fewshot(splits, 16, seed=1, cache_dir="runs/.cache/fewshot")
    splits = subsample_classes(splits, "base")                 # after sampling, as CoOp does
    ds = ImageDataset(splits.train, transform)
"""

from vlcat.data.cards import DatasetCard, datasets_dir, list_cards, resolve_card
from vlcat.data.classes import subsample_classes
from vlcat.data.fewshot import ALL_SHOTS, sample_fewshot
from vlcat.data.images import ImageDataset, find_undecodable, load_image
from vlcat.data.loading import load_dataset
from vlcat.data.types import DatasetSplits, Datum

__all__ = [
    "ALL_SHOTS",
    "DatasetCard",
    "DatasetSplits",
    "Datum",
    "ImageDataset",
    "datasets_dir",
    "find_undecodable",
    "list_cards",
    "load_dataset",
    "load_image",
    "resolve_card",
    "sample_fewshot",
    "subsample_classes",
]
