"""Share of usable LLM proposals per meta-prompt style (scored_list = the paper's, variations = ours).

    python tools/probe_proposals.py                          # the local vLLM server (reused), 4 stages per style
    python tools/probe_proposals.py --repeats 8 --run-dir runs/x/coop+catalyst/synth_shapes/shots16_seed1_base

Each "stage" asks for num_candidates x num_requests prompts about the synth_shapes task (n_ctx 4, class
name at the end) with the same prompts shown; a proposal is usable when the stage's parser accepts it
(no copy of a shown prompt, no class name, within the length bounds). Prints one JSON object. A server
that requires a key gets it from VLCAT_LLM_API_KEY.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--styles", nargs="*", default=["scored_list", "variations"])
    p.add_argument("--repeats", type=int, default=4, help="stages (seeds) per shown set and style")
    p.add_argument("--num-candidates", type=int, default=4)
    p.add_argument("--num-requests", type=int, default=2)
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--run-dir", help="take the shown prompts from this run's llm_stages/ instead")
    p.add_argument("--url", help="OpenAI-compatible endpoint (default: the running local server)")
    p.add_argument("--no-banned-words", action="store_true",
                   help="leave out the variations meta-prompt's list of class words (the parser still rejects them)")
    args = p.parse_args(argv)

    from vlcat.bench.usable import default_shown, measure, probe_setup, shown_from_run
    from vlcat.catalyst.endpoint import Endpoint
    from vlcat.llm.client import LLMClient
    from vlcat.llm.endpoint import ENV_API_KEY
    from vlcat.llm.serve import find_running

    setup = probe_setup(args.num_candidates, banned_words=not args.no_banned_words)
    if args.url:
        url, model = args.url, None
    else:
        handle = find_running(None, api_key=os.environ.get(ENV_API_KEY))
        if handle is None:
            print("error: no running LLM server; start one with tools/serve_llm.py or pass --url", file=sys.stderr)
            return 2
        url, model = handle.url, handle.served_name
    client = LLMClient(url, model or "default", api_key=os.environ.get(ENV_API_KEY), use_cache=False,
                       max_retries=1, timeout=120)
    endpoint = Endpoint(url, model, "reused", client=client)
    shown = shown_from_run(Path(args.run_dir)) if args.run_dir else default_shown()
    results = measure(endpoint, setup.task, setup.parser, shown, args.styles, num_candidates=args.num_candidates,
                      num_requests=args.num_requests, temperature=args.temperature, max_tokens=setup.max_tokens,
                      max_words=setup.max_words, repeats=args.repeats)
    print(json.dumps({"model": model, "shown_sets": len(shown), "repeats": args.repeats,
                      "per_stage": args.num_candidates * args.num_requests, "temperature": args.temperature,
                      "styles": [r.to_dict() for r in results]}, indent=1))
    return 0
