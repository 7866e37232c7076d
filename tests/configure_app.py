"""A tiny instrumented program run as a subprocess by test_configure.py (global providers are per process).

Usage: python -m tests.configure_app MODE N. Prints one JSON line describing what configure() set up.
"""

from __future__ import annotations

import atexit
import json
import sys
import time

import agenttrace


@agenttrace.stage("llm_call", model="m")
def call_llm() -> None:
    agenttrace.record_usage(input_tokens=3, output_tokens=1)


def run(n: int) -> agenttrace.RequestRollup:
    with agenttrace.request("job", run_id="run-cfg", scenario="smoke") as req:
        for _ in range(n):
            call_llm()
    return req


exiting_at = 0.0


def main(mode: str, n: int) -> None:
    if mode == "user-provider":
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        handle = agenttrace.configure(service_name="ignored")
        tracer = trace.get_tracer("user")
        with agenttrace.request("job", run_id="run-user"):
            with tracer.start_as_current_span("user-span"):  # someone else's span gets the identity too
                call_llm()
        spans = {s.name: dict(s.attributes or {}).get("agenttrace.run_id") for s in exporter.get_finished_spans()}
        print(json.dumps({"owns": handle.owns_providers, "same": handle.tracer_provider is provider, "spans": spans}))
        return
    if mode == "exit":  # no explicit shutdown; report what the exit hook counted, after it ran
        atexit.register(lambda: print(json.dumps({"exiting_at": exiting_at, "dropped": handle.dropped_spans})))
    handle = agenttrace.configure(service_name="svc-cfg")
    again = agenttrace.configure(service_name="other")
    req = run(n)
    if mode == "atexit":  # no explicit shutdown: the exit hook must flush
        print(json.dumps({"llm_calls": req.llm_calls, "input_tokens": req.input_tokens}))
        return
    if mode == "exit":
        global exiting_at
        exiting_at = time.time()  # the exit hooks start now; the test times them from here
        return
    handle.shutdown()
    print(json.dumps({"owns": handle.owns_providers, "idempotent": again is handle, "dropped": handle.dropped_spans}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
