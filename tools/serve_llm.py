"""Run the local vLLM server in the foreground, or check an endpoint.

    python tools/serve_llm.py                       # embedded SmolLM2 on CPU, free port, Ctrl-C stops
    python tools/serve_llm.py --port 8000 --api-key KEY --gpu-memory-utilization 0.4
    python tools/serve_llm.py --check               # does the running server give schema-valid JSON?
    python tools/serve_llm.py --check --url http://127.0.0.1:8000/v1 --model NAME
"""

import sys

from vlcat.cli.llm import main

if __name__ == "__main__":
    sys.exit(main())
