"""What the catalyst says on the console: one line per LLM stage, a warning when a stage could not reach its
LLM, and a closing line: a warning when none did, otherwise what the stages did and the median seconds a
stage waited for its LLM (with all samples of a stage in one request, the number to watch on a CPU server).

A run labelled "coop+catalyst" whose LLM never answered is CoOp with snapshot restarts, and used to exit 0
with that fact only inside ``record.json``; these lines make it visible while it happens. The stage line is
also stored in the stage file (``summary``), where the TensorBoard logger reads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: Stage errors that mean the LLM answered but gave nothing usable (not "could not reach it").
ANSWERED_ERRORS = frozenset({"NoValidCandidate"})


def llm_unreached(record: dict[str, Any]) -> bool:
    """Whether an LLM stage's request failed (dead server, timeout, HTTP error), as opposed to a reply
    that held no usable prompt."""
    error = record.get("error") or {}
    return record.get("proposer") == "llm" and bool(error) and error.get("type") not in ANSWERED_ERRORS


def _race_text(race: dict[str, Any]) -> str:
    starters = race.get("starters") or []
    if not starters:
        return ""
    cur = (starters[0].get("rungs") or [{}])[-1].get("val_acc")
    finalists = [s for s in starters[1:] if s.get("eliminated_at") is None and s.get("rungs")]
    parts = [f"current {cur:.1f}" if cur is not None else "current"]
    for s in finalists:
        acc = s["rungs"][-1]["val_acc"]
        margin = f" ({acc - cur:+.1f})" if cur is not None else ""
        parts.append(f"{s['source']} '{s['text']}' {acc:.1f}{margin}")
    return "race on validation after " + f"{race.get('steps', 0)} steps: " + ", ".join(parts) + "; "


def proposals_text(usable: dict[str, Any]) -> str:
    """Where the proposals asked for went, in words that add up: "8 asked: 5 usable, 1 rejected, 2 not
    returned" (only non-zero parts after "usable"; "10 returned" when a reply held more than asked). Stage
    files written before the full accounting only have requested and accepted."""
    asked, accepted = usable.get("requested", 0), usable.get("accepted", 0)
    if "returned" not in usable:
        return f"usable {accepted}/{asked} proposals"
    head = f"{asked} asked" + (f", {usable['returned']} returned" if usable.get("extra") else "")
    parts = [f"{accepted} usable"]
    for key, word in (("rejected", "rejected"), ("duplicates", "duplicates"), ("missing", "not returned")):
        if usable.get(key):
            parts.append(f"{usable[key]} {'duplicate' if usable[key] == 1 and key == 'duplicates' else word}")
    return f"{head}: {', '.join(parts)}"


def stage_line(record: dict[str, Any], total: int) -> str:
    """One line: usable proposals, the race's finalists and margins, the decision and why, seconds."""
    dec = record.get("decision") or {}
    usable = record.get("usable") or {}
    timings = record.get("timings") or {}
    chosen = dec.get("chosen") or {}
    what = (f"restart from {chosen.get('source')} text '{chosen.get('text')}'" if dec.get("restart")
            else "continue from the current context")
    race = _race_text(dec["race"]) if dec.get("race") else ""
    usable_text = proposals_text(usable) if record.get("proposer") != "none" else "no proposals (control)"
    return (f"[catalyst] stage {record.get('stage')}/{total} after epoch {record.get('epoch')} "
            f"({record.get('proposer')}, {record.get('policy')}): {usable_text}; {race}{what}: "
            f"{dec.get('reason', '')}; {timings.get('total_s', 0.0):.1f} s (LLM {timings.get('llm_s', 0.0):.1f} s)")


def unreached_warning(record: dict[str, Any]) -> str:
    error = record.get("error") or {}
    return (f"warning: LLM stage {record.get('stage')} could not reach its LLM ({error.get('type')}: "
            f"{str(error.get('message', ''))[:200]}); it raced only snapshots, the template and earlier texts "
            "(set llm.required=true to stop the run instead)")


def median_llm_s(seconds: list[float]) -> str:
    """"LLM 1.2 s a stage (median)", or "" without stages."""
    from statistics import median

    return f"LLM {median(seconds):.1f} s a stage (median)" if seconds else ""


def closing_line(summary: dict[str, Any]) -> str | None:
    """A warning when no LLM stage of the run reached its LLM; for a run whose stages did, one line on what
    they did and the median LLM seconds a stage; None for the controls and runs without stages."""
    if summary.get("proposer") != "llm" or not summary.get("stages"):
        return None
    if summary.get("llm_unreached", 0) < summary["stages"]:
        llm = median_llm_s([float(s.get("llm_s", 0.0)) for s in summary.get("per_stage") or []])
        return (f"[catalyst] {summary['stages']} LLM stage(s), {summary.get('restarts', 0)} restart(s), "
                f"{summary.get('llm_unreached', 0)} could not reach the LLM; {llm}")
    return (f"warning: none of this run's {summary['stages']} LLM stage(s) reached the LLM: its numbers are "
            "gradient descent with snapshot restarts, not the LLM catalyst (record.json: "
            "catalyst.all_llm_failed=true)")


def digest(run_dirs: list[Path]) -> list[str]:
    """Two lines on what the LLM stages of these runs decided (the quickstart prints them under its table)."""
    from collections import Counter

    from vlcat.rundir import STAGE_DIR, read_json

    stages = []
    for run_dir in run_dirs:
        for path in sorted((Path(run_dir) / STAGE_DIR).glob("stage_*.json")):
            rec = read_json(path)
            if isinstance(rec, dict):
                stages.append(rec)
    if not stages:
        return ["catalyst: no LLM stage ran"]
    usable = [s.get("usable") or {} for s in stages if s.get("proposer") == "llm"]
    restarts = Counter(((s.get("decision") or {}).get("chosen") or {}).get("source", "?")
                       for s in stages if (s.get("decision") or {}).get("restart"))
    unreached = sum(llm_unreached(s) for s in stages)
    first = (f"catalyst: {len(stages)} LLM stage(s); {sum(u.get('accepted', 0) for u in usable)} of "
             f"{sum(u.get('requested', 0) for u in usable)} LLM proposals usable; "
             f"{sum(restarts.values())} restart(s)"
             + (f" (from {', '.join(f'{k} x{v}' for k, v in restarts.items())})" if restarts else "")
             + (f"; {unreached} stage(s) could not reach the LLM" if unreached else "")
             + (f"; {llm}" if (llm := median_llm_s([float((s.get("timings") or {}).get("llm_s", 0.0))
                                                      for s in stages if s.get("proposer") == "llm"])) else ""))
    reasons = Counter(str((s.get("decision") or {}).get("reason", "")).split(" (")[0] for s in stages)
    reason, count = reasons.most_common(1)[0]
    return [first, f"catalyst: most stages ({count}/{len(stages)}): {reason}"]
