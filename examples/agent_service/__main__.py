"""``python -m examples.agent_service``: the simulated model and the agent service, on loopback ports.

Prints ``model server on http://HOST:PORT`` and ``agent service on http://HOST:PORT`` (flushed) once both
listen, so a load test or ``agenttrace demo`` can start it as a subprocess and read the URLs. Telemetry goes
where the ``OTEL_*`` environment variables say (``agenttrace.configure()``). SIGTERM or Ctrl-C stops it
cleanly: uvicorn drains the agent service, the middleware flushes the spans, and the process exits 0.
With ``--model-base-url`` (``AGENT_MODEL_BASE_URL``) it uses that model instead of starting the simulated one.
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import socket
import sys
import threading

import uvicorn

import agenttrace
from examples.agent_service.app import create_app
from examples.agent_service.model_server import ModelConfig
from examples.agent_service.model_server import create_app as create_model_app
from examples.agent_service.settings import AgentSettings, add_flags, flags_for, from_env


def _listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(2048)  # bound and listening now: clients may connect before uvicorn accepts
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{host}:{port}"


def parse(argv: list[str] | None) -> tuple[argparse.Namespace, AgentSettings, ModelConfig]:
    """Flags and environment into settings; a bad value exits with a one-line error."""
    parser = argparse.ArgumentParser(prog="python -m examples.agent_service", description=__doc__, allow_abbrev=False)
    parser.add_argument("--host", default="127.0.0.1", help="interface for both servers (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="agent service port (default: a free one)")
    parser.add_argument("--model-port", type=int, default=0, help="simulated model port (default: a free one)")
    parser.add_argument("--log-level", default="warning", help="uvicorn log level (default warning)")
    add_flags(parser, AgentSettings)
    add_flags(parser, ModelConfig, "model-")
    args = parser.parse_args(argv)
    try:
        settings = from_env(AgentSettings, "AGENT_", **flags_for(args, AgentSettings))
        config = from_env(ModelConfig, "MODEL_", **flags_for(args, ModelConfig, "model-"))
    except ValueError as exc:
        parser.error(str(exc))
    return args, settings, config


def main(argv: list[str] | None = None) -> int:
    """Run until SIGTERM or SIGINT."""
    args, settings, config = parse(argv)
    agenttrace.configure()  # OTEL_SERVICE_NAME, else "agent-service"; OTEL_EXPORTER_OTLP_* say where to
    model_server = None
    if not settings.model_base_url:
        model_sock = _listen(args.host, args.model_port)
        model_server = uvicorn.Server(
            # The agent's keep-alive connections to the model are idle by now: don't wait for them at exit.
            uvicorn.Config(
                create_model_app(config), log_level=args.log_level, lifespan="off", timeout_graceful_shutdown=1
            )
        )
        model_thread = threading.Thread(target=model_server.run, kwargs={"sockets": [model_sock]}, daemon=True)
        model_thread.start()
        settings = dataclasses.replace(settings, model_base_url=_url(model_sock) + "/v1")
        print(f"model server on {_url(model_sock)}", flush=True)
    agent_sock = _listen(args.host, args.port)
    agent_config = uvicorn.Config(create_app(settings), log_level=args.log_level, timeout_graceful_shutdown=5)
    print(f"agent service on {_url(agent_sock)}", flush=True)
    # uvicorn handles SIGTERM/SIGINT while it runs, then re-raises them to the handlers it found: make those
    # no-ops, so that a stop request ends here with exit status 0 rather than killing the process.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    uvicorn.Server(agent_config).run(sockets=[agent_sock])
    if model_server is not None:
        model_server.should_exit = True
        model_thread.join(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
