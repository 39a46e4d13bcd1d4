"""Accuracy on the offline world: base/novel/HM of zero-shot, CoOp and CoOp + catalyst, 3 seeds, mean ± std.

The same sweep as the quickstart (configs/experiments/quickstart.yaml: toy CLIP, synth_shapes, base-to-novel)
over seeds 1, 2, 3, with the local vLLM server started or reused. Finished runs are reused on a rerun.

    python tools/bench_offline.py                     # -> runs/bench_offline/report/report.md
    python tools/bench_offline.py seeds=[1,2,3,4,5]   # more seeds (sweep-config overrides)
"""

import sys

from vlcat.quickstart import main

if __name__ == "__main__":
    sys.exit(main(["-o", "runs/bench_offline", "seeds=[1,2,3]", *sys.argv[1:]]))
