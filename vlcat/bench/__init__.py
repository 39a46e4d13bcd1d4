"""Benchmarks and probes: what measures vlcat, kept out of what vlcat is.

Nothing in the core (learners, training, the catalyst, data, sweeps) imports this package; it imports them,
plus the offline world (:mod:`vlcat.synth`) and the test fixtures (:mod:`vlcat.testing`) it measures on.

- :mod:`vlcat.bench.suite`: the offline benchmark suite over the world's tasks (``tools/bench_offline.py``);
- :mod:`vlcat.bench.catalyst`: the paired catalyst benchmark (``tools/bench_catalyst.py compare``), and
  :mod:`vlcat.bench.catalyst_compare`, which runs it from the datasets to report.md;
- :mod:`vlcat.bench.catalyst_timing`: LLM-stage against gradient wall time (``tools/bench_catalyst.py timing``);
- :mod:`vlcat.bench.usable`: the share of usable LLM proposals per meta-prompt style
  (``tools/probe_proposals.py``);
- :mod:`vlcat.bench.backends`: sequential against Ray on one offline sweep (``tools/bench_sweep.py``);
- :mod:`vlcat.bench.train_step`: the reference training step against vlcat's (``tools/bench_train_step.py``);
- :mod:`vlcat.bench.compare_sweeps`: two sweeps compared run for run (``tools/compare_sweeps.py``).

The command lines over them are in :mod:`vlcat.cli.bench`.
"""
