"""The example agent service and the fake LLM on free 127.0.0.1 ports, in a child process, until stdin closes.

A child process because the service's OpenAI client keeps its keep-alive connections to the fake LLM open
when the server stops (the example app has no shutdown hook), which a test process would report as unclosed
resources. Prints the service's base URL as its first line.
"""

from __future__ import annotations

import sys

from examples import fake_llm
from examples.service import create_app
from examples.serving import serve

if __name__ == "__main__":
    with serve(fake_llm.create_app()) as llm_url, serve(create_app(f"{llm_url}/v1")) as base_url:
        print(base_url, flush=True)
        sys.stdin.read()
