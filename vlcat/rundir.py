"""The run folder's one owner: its file names, its state, the lock held while a run writes, atomic writes.

A run folder is the unit of work and of resumption, and several programs touch it (``vlcat-train``,
``vlcat-eval``, the sweeps, the report). They all ask this module what a folder holds instead of
deciding it themselves, so "finished" means the same thing everywhere:

- ``new``: missing, or an empty folder;
- ``unfinished``: it holds ``config.yaml`` but no ``record.json`` (training started, was stopped);
- ``finished``: it holds a readable ``record.json`` with ``status: finished``;
- ``broken``: it holds a ``record.json`` that cannot be read (a half-copied folder, a hand edit);
- ``foreign``: a non-empty folder without ``config.yaml``; it is not a vlcat run and is never written to.

Whether a folder holds *the same run* as a config is decided here too, the same way for a single run's
``--resume`` and for a sweep that skips or resumes its runs (:func:`config_differences`): every key counts
except :data:`RESUME_FREE`, those that change how a run is watched or where it waits, never its numbers.

An ``unfinished`` folder that never completed a step (:func:`completed_a_step` is false: no checkpoint,
no metrics line, no catalyst stage file, no record) holds nothing a rerun could continue or lose, e.g. a
run that failed on a corrupt image or a bad value found while loading the data; ``vlcat-train`` starts
such a folder afresh, with or without ``--resume`` and whatever the config, instead of asking for
``--overwrite``.

Every file is written through a temporary file and a rename, so a reader or a killed writer never
leaves half a file; JSON never holds ``NaN``/``Infinity`` (not valid JSON), non-finite numbers become
``null``. One process at a time may write a run folder: :class:`RunLock` takes an exclusive ``flock``
that the kernel drops when the process dies, so a SIGKILLed run never leaves a stale lock.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vlcat.errors import RunError

CONFIG = "config.yaml"
RECORD = "record.json"
METRICS = "metrics.jsonl"
CHECKPOINT = "checkpoint.pt"
LABEL = "sweep.json"
"""Written into each run folder by a sweep: the method *label* (a sweep may hold two CoOp variants)."""
EVAL_DIR = "eval"
STAGE_DIR = "llm_stages"
"""The catalyst's stage files (``stage_<k>.json``), read by the TensorBoard logger, reports and benchmarks."""
LOCK = ".vlcat.lock"

STATES = ("new", "unfinished", "finished", "broken", "foreign")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+\-]*$")


RESUME_FREE = frozenset({
    "output_dir", "train.progress", "train.epoch_lines", "train.progress_every_s", "train.tensorboard",
    "train.method", "data.num_workers", "data.cache_dir",
    # where the LLM is and how long to wait for it; the model, its sampling and the reply cache do count
    "llm.base_url", "llm.api_key", "llm.python", "llm.start_server", "llm.startup_timeout", "llm.required",
    "llm.gpu_memory_utilization", "llm.timeout", "llm.max_retries", "llm.cache_dir",
})
"""Config keys that never make a different run: a resume (of a run or a sweep) may change them, e.g. to
continue on another machine without the progress bar, or after the LLM server came back on another port."""


def config_differences(saved: Any, wanted: Any) -> list[str]:
    """``key: saved -> wanted`` for each key that makes the two configs different runs (not
    :data:`RESUME_FREE`); empty when they are the same run.

    Either side is a ``RunConfig`` or a mapping as saved in a folder (``config.yaml``, a record's ``config``),
    read through today's schema so that keys added since take their defaults.
    """
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from vlcat.config import RunConfig, flatten
    from vlcat.precision_names import ALIASES

    flat = []
    for side in (saved, wanted):
        if not isinstance(side, dict | RunConfig):
            return ["config: missing or not a mapping"]
        try:
            node = OmegaConf.merge(OmegaConf.structured(RunConfig), side)
        except OmegaConfBaseException:
            return ["config: does not fit the current schema"]
        keys = flatten(OmegaConf.to_container(node))
        # an old name is read as the one it stands for (as load_config does): bf16 is amp_bf16
        keys["model.precision"] = ALIASES.get(keys.get("model.precision"), keys.get("model.precision"))
        flat.append(keys)
    a, b = flat
    return [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b))
            if k not in RESUME_FREE and a.get(k) != b.get(k)]


def safe_name(name: str) -> bool:
    """A plain file name (no folder part, no ``..``), usable inside a run folder."""
    return bool(_SAFE_NAME.match(name)) and ".." not in name


# ----- atomic writes ------------------------------------------------------------------------------------

def atomic_write_bytes(path: str | os.PathLike, write: Callable[[str], Any]) -> None:
    """Call ``write(tmp_path)`` on a temp file in the target folder, then rename it over ``path``.

    The rename is atomic on POSIX, so readers see the old file or the new one, never half of one.
    The temp file gets the permissions a plain ``open()`` would give (mkstemp makes 0600).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def finite(obj: Any) -> Any:
    """``obj`` with every NaN/inf float replaced by None, so it can be written as strict JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    return obj


def dumps(obj: Any, indent: int | None = None) -> str:
    """Strict JSON (no NaN/Infinity tokens): non-finite numbers are written as null."""
    return json.dumps(finite(obj), indent=indent, allow_nan=False)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, dumps(obj, indent=2))


def read_json(path: str | os.PathLike) -> Any:
    """The parsed file, or None when it is missing or not valid JSON."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


# ----- state --------------------------------------------------------------------------------------------

def read_record(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The run's record if it is complete and readable, else None."""
    rec = read_json(Path(run_dir) / RECORD)
    ok = isinstance(rec, dict) and rec.get("status") == "finished" and isinstance(rec.get("metrics"), dict)
    return rec if ok else None


def _entries(run_dir: Path) -> list[str]:
    return [p.name for p in run_dir.iterdir() if p.name != LOCK]


def check_writable(run_dir: str | os.PathLike) -> None:
    """Refuse, before any work, an output folder that is a file, lies under a file or cannot be written."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise RunError(f"output folder {run_dir} is a file; choose another output_dir")
    probe = run_dir
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise RunError(f"output folder {run_dir} lies under {probe}, which is a file; choose another output_dir")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise RunError(f"output folder {run_dir} cannot be written ({probe} is not writable); "
                       "choose another output_dir")


def probe_writable(folder: str | os.PathLike, hint: str) -> Path:
    """Create ``folder`` and write (then remove) a file in it, before any work whose result goes there.

    ``os.access`` says yes to root on a read-only mount, so only a real write tells; an evaluation that
    ran for an hour must not end in a PermissionError traceback.
    """
    import tempfile

    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-probe-"):
            pass
    except OSError as exc:
        raise RunError(f"cannot write into {folder} ({exc.strerror or type(exc).__name__}); {hint}") from None
    return folder


def folder_state(run_dir: str | os.PathLike) -> str:
    """One of :data:`STATES` (see the module docstring)."""
    run_dir = Path(run_dir)
    check_writable(run_dir)
    if not run_dir.is_dir():
        return "new"
    try:
        entries = _entries(run_dir)
    except OSError as exc:
        raise RunError(f"cannot list {run_dir}: {exc.strerror}") from None
    if RECORD in entries:
        return "finished" if read_record(run_dir) is not None else "broken"
    if CONFIG in entries:
        return "unfinished"
    return "foreign" if entries else "new"


def completed_a_step(run_dir: str | os.PathLike) -> bool:
    """Whether the folder holds the trace of at least one completed training step (or fit).

    Any of these counts, and anything unreadable counts too (when in doubt the folder is kept): a
    checkpoint, a non-blank line in ``metrics.jsonl`` (the trainer writes none before its first step, and
    empties the file when it starts over), a catalyst stage file, a record (readable or not, or one a
    resume moved aside). A folder without any of them can be restarted without losing work: a resume
    would start from step 0 anyway.
    """
    run_dir = Path(run_dir)
    if any((run_dir / name).exists() for name in (CHECKPOINT, RECORD, RECORD + ".broken")):
        return True
    try:
        if (run_dir / METRICS).read_text(encoding="utf-8", errors="replace").strip():
            return True
    except FileNotFoundError:
        pass
    except OSError:
        return True
    stages = run_dir / STAGE_DIR
    return stages.is_dir() and any(stages.glob("stage_*.json"))


def clear(run_dir: Path) -> None:
    """Delete a run folder's contents (not the lock that the caller holds)."""
    for p in run_dir.iterdir():
        if p.name == LOCK:
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()


def truncate_metrics(run_dir: Path, global_step: int) -> None:
    """Drop metric lines written after ``global_step`` (0: all), which a resumed run writes again."""
    path = run_dir / METRICS
    if not path.exists():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            step = json.loads(line).get("global_step", 0)
        except (ValueError, AttributeError):
            continue  # a line cut by SIGKILL mid-write
        if step <= global_step:
            keep.append(line)
    atomic_write_text(path, "".join(line + "\n" for line in keep))


def append_metrics(run_dir: Path, record: dict[str, Any]) -> None:
    with open(run_dir / METRICS, "a", encoding="utf-8") as fh:
        fh.write(dumps(record) + "\n")


# ----- the lock -----------------------------------------------------------------------------------------

class RunLock:
    """Exclusive right to write one run folder, for the life of the run.

    ``flock`` on ``<run>/.vlcat.lock`` (the file holds the holder's pid, for the error message). The kernel
    releases it when the process exits however it exits. The file itself stays: deleting a lock file
    while another process may have it open would let two writers in.
    """

    def __init__(self, run_dir: str | os.PathLike) -> None:
        self.run_dir = Path(run_dir)
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        check_writable(self.run_dir)
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.run_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise RunError(f"cannot write the output folder {self.run_dir}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise RunError(f"{self.run_dir} is in use by another vlcat process (pid {holder}); wait for it to "
                           "finish or choose another output_dir") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
