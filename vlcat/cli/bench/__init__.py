"""The benchmark commands, one module each (the module's docstring is the command's help); the measurements
themselves are in :mod:`vlcat.bench`:

- :mod:`~vlcat.cli.bench.offline`: ``vlcat-bench-offline`` (``tools/bench_offline.py``);
- :mod:`~vlcat.cli.bench.catalyst`: ``vlcat-bench-catalyst`` (``compare`` and ``timing``);
- :mod:`~vlcat.cli.bench.sweep`: ``vlcat-bench-sweep`` (sequential against Ray);
- :mod:`~vlcat.cli.bench.train_step`: ``vlcat-bench-train-step`` (the reference step against vlcat's);
- :mod:`~vlcat.cli.bench.proposals`: ``vlcat-probe-proposals`` (usable LLM proposals per meta-prompt style);
- :mod:`~vlcat.cli.bench.compare_sweeps`: ``vlcat-compare-sweeps`` (two sweeps, paired run for run).
"""
