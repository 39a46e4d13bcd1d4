"""Accuracy on the offline world, no download.

Without ``--suite``: the quickstart sweep (configs/experiments/quickstart.yaml: toy CLIP, synth_shapes,
base-to-novel; zero-shot, CoOp and CoOp + catalyst with the local vLLM server) over seeds 1, 2, 3.

With ``--suite PROTOCOL``: the offline benchmark suite (five world tasks, four domain shifts; configs in
configs/experiments/offline/) for a learner list, printing the papers' table per task and the average.

    python tools/bench_offline.py                                   # quickstart sweep, 3 seeds
    python tools/bench_offline.py --suite base2novel                # Base/Novel/HM, zero-shot and CoOp
    python tools/bench_offline.py --suite fewshot -l zeroshot -l coop -l cocoop   # K = 1, 2, 4, 8, 16
    python tools/bench_offline.py --suite dg                        # source and four shifted targets
    python tools/bench_offline.py --suite cross_dataset -l "drawing=coop 'learner.ctx_init=a drawing of a'"
    python tools/bench_offline.py --suite base2novel seeds=[1] --dry-run   # plan and time estimate only
"""

import sys

if __name__ == "__main__":
    if any(a == "--suite" or a.startswith("--suite=") for a in sys.argv[1:]):
        from vlcat.bench.suite import main as suite_main

        sys.exit(suite_main(sys.argv[1:]))
    from vlcat.quickstart import main

    sys.exit(main(["-o", "runs/bench_offline", "seeds=[1,2,3]", *sys.argv[1:]]))
