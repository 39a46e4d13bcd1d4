"""The command-line layer: every ``vlcat-*`` console script and every ``tools/*.py`` script is a function here.

One module per command family; each parses arguments, calls the library and prints, and runs under
:func:`vlcat.cli.guard.run_guarded` (a ``VlcatError`` is one ``error: ...`` line and its exit status, Ctrl-C
is ``error: interrupted`` and 130). Nothing in the library imports this package.

- :mod:`~vlcat.cli.train`: ``vlcat-train``, ``vlcat-eval``;
- :mod:`~vlcat.cli.report`: ``vlcat-report``;
- :mod:`~vlcat.cli.llm`: ``vlcat-serve-llm``;
- :mod:`~vlcat.cli.sweeps` (and :mod:`~vlcat.cli.sweep_options`): ``vlcat-fewshot``, ``vlcat-base2novel``;
- :mod:`~vlcat.cli.quickstart`: ``vlcat-quickstart``;
- :mod:`~vlcat.cli.interop`: ``vlcat-import-checkpoint``, ``vlcat-export-classifier``;
- :mod:`~vlcat.cli.data`: ``vlcat-check-data``;
- :mod:`~vlcat.cli.bench`: the benchmarks (``vlcat-bench-*``, ``vlcat-compare-sweeps``, ``vlcat-probe-proposals``);
- :mod:`~vlcat.cli.toy_pretrain`, :mod:`~vlcat.cli.toy_probe`, :mod:`~vlcat.cli.zoo_table`: the toy CLIP's
  pretraining and probe, and the README's model-family table.

The names below were this package's entry points when it was one module (``vlcat.cli:train_main``, ...);
they stay importable, lazily (importing ``vlcat.cli`` loads no command), for code and installs that use them.
"""

from __future__ import annotations

import importlib
from typing import Any

_ENTRY_POINTS = {
    "train_main": ("vlcat.cli.train", "train_main"),
    "eval_main": ("vlcat.cli.train", "eval_main"),
    "serve_llm_main": ("vlcat.cli.llm", "main"),
    "report_main": ("vlcat.cli.report", "main"),
    "base2novel_main": ("vlcat.cli.sweeps", "base2novel_main"),
    "fewshot_main": ("vlcat.cli.sweeps", "fewshot_main"),
    "import_checkpoint_main": ("vlcat.cli.interop", "import_main"),
    "export_classifier_main": ("vlcat.cli.interop", "export_main"),
    "check_data_main": ("vlcat.cli.data", "main"),
}


def __getattr__(name: str) -> Any:
    if name in _ENTRY_POINTS:
        module, attr = _ENTRY_POINTS[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_ENTRY_POINTS])
