"""The options every sweep command shares (where the runs execute) and the backend they ask for: used by
``vlcat-fewshot``, ``vlcat-base2novel``, the quickstart and the offline suite, so they cannot drift apart.
"""

from __future__ import annotations

import argparse
from typing import Any

from vlcat.errors import ConfigError
from vlcat.sweeps.backends import BACKENDS


def add_backend_args(p: argparse.ArgumentParser) -> None:
    """``--backend``, ``--address``, ``--cpus-per-run``, ``--gpus-per-run``: the same on every sweep command."""
    g = p.add_argument_group("where the runs execute")
    g.add_argument("--backend", choices=BACKENDS, default="sequential",
                   help="sequential (default: this process, one run after another) or ray (one Ray task per run)")
    g.add_argument("--address", default=None,
                   help="Ray cluster to join: auto, ray://HOST:PORT or HOST:PORT (default: start a local Ray "
                        "instance for the sweep). The sweep folder must be on a filesystem all nodes share.")
    g.add_argument("--cpus-per-run", type=float, default=1.0, help="CPUs reserved per run on Ray (default 1)")
    g.add_argument("--gpus-per-run", type=float, default=0.0,
                   help="GPUs reserved per run on Ray; fractions share a GPU (e.g. 0.25) (default 0)")


def make_backend(args: argparse.Namespace, env: dict[str, str] | None = None) -> Any:
    """The backend the options ask for; Ray-only options with the sequential backend are an error."""
    if args.backend == "sequential":
        if args.address is not None:
            raise ConfigError("--address needs --backend ray")
        from vlcat.sweeps.backends.sequential import SequentialBackend

        return SequentialBackend()
    from vlcat.sweeps.backends.ray import RayBackend, import_ray

    import_ray()  # a one-line error before any work when Ray is missing
    return RayBackend(args.address, cpus_per_run=args.cpus_per_run, gpus_per_run=args.gpus_per_run, env=env)


def parallelism(backend: Any) -> int:
    """How many runs may execute at once (for the time estimate); 1 until Ray says otherwise."""
    return getattr(backend, "parallel", 1)
