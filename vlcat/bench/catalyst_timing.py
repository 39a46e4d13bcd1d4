"""What the catalyst costs: wall time of LLM stages against gradient epochs in one real CoOp run.

The run uses the embedded offline world (``vlcat-toy`` on ``synth_shapes``) when its assets are
installed, else the tiny test model and dataset from ``vlcat.testing``. The LLM endpoint is connected
(reused, or started) *before* the clock starts, since a server start is paid once per machine, not per
run, and the reply cache is off so that every stage really asks the server.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from vlcat.catalyst.callback import CatalystCallback
from vlcat.catalyst.endpoint import connect, require_healthy
from vlcat.clip import BUILTIN_MODELS
from vlcat.config import CONFIG_DIR, load_config
from vlcat.train.run import prepare_data, run_training


def _data_overrides(work: Path, shots: int) -> tuple[list[str], str]:
    cfg_path, weights = BUILTIN_MODELS["vlcat-toy"]
    if cfg_path.is_file() and weights.is_file():
        from vlcat.synth.dataset import build_synth_dataset

        build_synth_dataset(work / "data")
        return [f"data.root={work / 'data'}", "data.dataset=synth_shapes", "model.name=vlcat-toy",
                f"data.num_shots={shots}"], "vlcat-toy on synth_shapes"
    from vlcat.testing import TINY_CFG, write_tiny_dataset

    card = write_tiny_dataset(work / "data", n_train=max(6, shots))
    model = work / "tiny.json"
    model.write_text(json.dumps(TINY_CFG))
    return [f"data.root={work / 'data'}", f"data.dataset={card}", "model.name=tiny", f"model.config={model}",
            f"data.num_shots={shots}", "learner.n_ctx=4"], "tiny test model on the tiny fixture dataset"


def bench_catalyst(*, epochs: int = 20, shots: int = 16, overrides: list[str] | None = None,
                   work_dir: str | Path | None = None) -> dict[str, Any]:
    """Run CoOp + catalyst (``configs/catalyst/coop_catalyst.yaml`` defaults) and return the timing split."""
    work = Path(work_dir or tempfile.mkdtemp(prefix="vlcat-bench-catalyst-"))
    data, what = _data_overrides(work, shots)
    run_dir = work / f"run-{time.strftime('%H%M%S')}"
    cfg = load_config([CONFIG_DIR / "catalyst" / "coop_catalyst.yaml"], data + [
        f"output_dir={run_dir}", f"data.cache_dir={work / 'cache'}", f"optim.max_epoch={epochs}",
        "train.progress=false", "train.epoch_lines=false", "llm.use_cache=false", *(overrides or [])])
    t = time.perf_counter()
    endpoint = connect(cfg.llm, None)
    require_healthy(endpoint)
    connect_s = time.perf_counter() - t
    try:
        splits = prepare_data(cfg)
        catalyst = CatalystCallback(cfg, run_dir, splits, endpoint=endpoint)
        t = time.perf_counter()
        record = run_training(cfg, callbacks=[catalyst])
        run_s = time.perf_counter() - t
    finally:
        endpoint.close()
    timings = record["timings"]
    summary = record["catalyst"]
    stage_s = summary["stage_s"]
    overhead_s = summary.get("overhead_s", stage_s)
    steps_s = timings.get("train_steps_s", 0.0)
    return {
        "setup": what,
        "model": record["model"],
        "endpoint": summary["endpoint"],
        "server_connect_s (excluded)": round(connect_s, 2),
        "epochs": epochs,
        "steps_per_epoch": record["final_train"]["global_step"] // epochs if record["final_train"] else None,
        "classes": record["num_classes"],
        "train_images": record["split_sizes"]["train"],
        "schedule": summary["schedule"],
        "stages": summary["stages"],
        "succeeded": summary["succeeded"],
        "restarts": summary["restarts"],
        "gradient_s": round(steps_s, 2),
        "llm_stage_s": round(stage_s, 2),
        "llm_stage_overhead_s": round(overhead_s, 2),
        "llm_request_s": round(summary["llm_s"], 2),
        "per_stage_s": [round(s["total_s"], 2) for s in summary["per_stage"]],
        "per_stage_llm_s": [round(s["llm_s"], 2) for s in summary["per_stage"]],
        "run_s": round(run_s, 2),
        "llm_share_of_run": round(overhead_s / run_s, 4) if run_s else None,
        "llm_share_of_training": round(stage_s / (stage_s + steps_s), 4) if stage_s + steps_s else None,
        "test_accuracy": record["metrics"].get("test", {}).get("accuracy"),
        "run_dir": str(run_dir),
    }
