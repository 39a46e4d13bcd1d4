"""``compare``: the paired catalyst benchmark from the datasets to report.md (``tools/bench_catalyst.py compare``).

Separate from :mod:`vlcat.bench.catalyst` (plan, run, report) because this is the orchestration around it that
a command needs: the offline datasets written, one LLM server for every LLM run (reused or started, checked
before each of them), its own reply cache, and the table written even when some runs failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from vlcat.bench import catalyst as cb
from vlcat.sweeps import SweepFailed


def compare(output_dir: str | Path, *, settings: Sequence[str], methods: Sequence[str], seeds: Sequence[int],
            datasets: Sequence[str], data_root: str | Path | None = None, overrides: Sequence[str] = (),
            report_only: bool = False) -> tuple[str, SweepFailed | None]:
    """Train what is missing (unless ``report_only``), write ``<output_dir>/report.md``; return its text and
    the failure that ended the runs, if any (the table of what finished is written either way)."""
    from vlcat.bench.suite import task_of
    from vlcat.synth.dataset import build_synth_datasets
    from vlcat.train.run import default_cache_dir

    out = Path(output_dir)
    root = Path(data_root) if data_root else default_cache_dir() / "data"
    extra = [f"data.root={root}", *overrides]
    if not any(s.startswith("llm.cache_dir=") for s in overrides):
        # its own reply cache: a fresh benchmark times real LLM requests (not replies cached by earlier
        # runs anywhere on the machine), and a resumed one replays its own replies exactly
        extra.append(f"llm.cache_dir={out.resolve() / 'llm_replies'}")
    for dataset in datasets:
        task_of(dataset)  # an unknown name is a one-line error listing the offline tasks
    sweeps = cb.plan(out, settings, methods, seeds, extra, datasets=datasets)
    failed = None
    if not report_only:
        from vlcat.sweeps import plan_sweep
        from vlcat.sweeps.backends.sequential import SequentialBackend
        from vlcat.sweeps.llm import shared_endpoint

        build_synth_datasets(root, datasets)
        backend = SequentialBackend()
        # One server for all LLM runs, reused or started, checked before each of them (vlcat.sweeps.llm):
        # a server that died is replaced, or the run fails; never an LLM arm trained without its LLM.
        try:
            with shared_endpoint([r for s in sweeps.values() for r in plan_sweep(s)], backend):
                cb.run(sweeps, backend=backend,
                       on_step=lambda st: cb.say(f"{st.action:8s} {st.run.rel} ({st.seconds:.1f} s)"
                                                 + (f": {st.error}" if st.error else "")))
        except SweepFailed as exc:  # the table of what finished is still written; the failures end it
            failed = exc
    text = cb.report(sweeps)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(text)
    return text, failed
