"""OTLP/gRPC trace receiver: ``opentelemetry.proto.collector.trace.v1.TraceService/Export`` on grpcio.

The method is registered with a raw-bytes deserializer so the request is decoded by the same code as
the HTTP receiver and its bytes can be forwarded as they came.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc

from agenttrace.collector._decode import BadRequest, decode_protobuf
from agenttrace.collector._receiver import Receiver, response_for
from agenttrace.store._ingest import Overloaded

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
log = logging.getLogger("agenttrace.collector")


class _TraceService:
    def __init__(self, receiver: Receiver) -> None:
        self._receiver = receiver

    def export(self, raw: bytes, context: Any) -> bytes:
        metadata = dict(context.invocation_metadata())
        authorization = metadata.get("authorization")
        if not self._receiver.authorized(authorization.encode() if isinstance(authorization, str) else None):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        try:
            decoded = decode_protobuf(raw)
        except BadRequest as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        try:
            batch, durable = self._receiver.accept(decoded)
        except Overloaded as exc:
            # UNAVAILABLE is retryable for OTLP exporters (RESOURCE_EXHAUSTED only with RetryInfo).
            context.abort(grpc.StatusCode.UNAVAILABLE, f"busy, retry later: {exc}")
        if durable is not None:
            try:
                durable.result()
            except OSError as exc:
                context.abort(grpc.StatusCode.UNAVAILABLE, f"cannot store spans: {exc}")
        result: bytes = response_for(batch).SerializeToString()
        return result


def start_grpc_server(receiver: Receiver, address: str, *, max_message: int, workers: int = 16) -> tuple[Any, int]:
    """Start the gRPC receiver on ``address`` (``host:port``, port 0 picks one).

    Returns:
        The running ``grpc.Server`` and the bound port.

    Raises:
        OSError: The address cannot be bound.
    """
    server = grpc.server(
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="agenttrace-grpc"),
        options=[("grpc.max_receive_message_length", max_message), ("grpc.so_reuseport", 0)],
    )
    service = _TraceService(receiver)
    handler = grpc.method_handlers_generic_handler(
        SERVICE, {"Export": grpc.unary_unary_rpc_method_handler(service.export)}
    )
    server.add_generic_rpc_handlers((handler,))
    try:
        port = server.add_insecure_port(address)
    except RuntimeError as exc:
        raise OSError(f"cannot listen on {address}: {exc}") from None
    if port == 0:
        raise OSError(f"cannot listen on {address}")
    server.start()
    return server, port
