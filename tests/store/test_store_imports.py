"""Part B: reading a store imports neither the collector nor its servers."""

from __future__ import annotations

import subprocess
import sys


def test_import_store_loads_no_server() -> None:
    code = (
        "import sys, agenttrace.store\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('uvicorn', 'grpc', 'starlette', 'httpx')\n"
        "             or m.startswith('agenttrace.collector')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert (result.returncode, result.stdout, result.stderr) == (0, "[]\n", "")
