"""What both OTLP receivers (HTTP and gRPC) do with a decoded export request."""

from __future__ import annotations

import hmac
from concurrent.futures import Future
from typing import Any, Protocol

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from agenttrace.collector._spans import Decoded
from agenttrace.store._ingest import Ingestor
from agenttrace.store._rows import Batch, to_batch


class Forwarder(Protocol):
    """Something that takes a copy of every accepted request (``_forward.OtlpForwarder``)."""

    def offer(self, body: bytes) -> None:
        """Queue a serialised ``ExportTraceServiceRequest`` for sending; never blocks."""


class Receiver:
    """Turns requests into stored batches and OTLP responses.

    Args:
        ingestor: Where accepted spans go.
        token: When set, requests must carry ``Authorization: Bearer <token>``.
        forwarder: Gets every accepted request, when set.
    """

    def __init__(self, ingestor: Ingestor, *, token: str | None = None, forwarder: Forwarder | None = None) -> None:
        self.ingestor = ingestor
        self._expected = f"Bearer {token}".encode() if token else None
        self._forwarder = forwarder

    def authorized(self, authorization: bytes | None) -> bool:
        """Whether an ``Authorization`` header value is acceptable."""
        if self._expected is None:
            return True
        return authorization is not None and hmac.compare_digest(authorization, self._expected)

    def accept(self, decoded: Decoded) -> tuple[Batch, Future[None] | None]:
        """Extract, queue and forward one request.

        Args:
            decoded: The decoded request (its view's spans are emptied), with the spans rejected while decoding.

        Returns:
            The batch, its rejections including those of decoding, and a future done when its spans are
            durable (``None`` when nothing was accepted).

        Raises:
            Overloaded: The store is behind; nothing of the request was taken.
        """
        batch = to_batch(decoded.request, self.ingestor.limits)
        if decoded.reasons:
            # Batch.rejected/reasons stay the one count of rejected spans: decoding's go in first.
            batch.reasons[:0] = decoded.reasons
            batch.rejected += len(decoded.reasons)
        future = None
        if batch.accepted:
            future = self.ingestor.submit(batch.lines, batch.accepted)
        if self._forwarder is not None:
            self._forwarder.offer(decoded.raw)
        return batch, future


def response_for(batch: Batch) -> Any:
    """The ``ExportTraceServiceResponse`` for a batch, with partial success when spans were rejected."""
    response = ExportTraceServiceResponse()
    if batch.rejected:
        response.partial_success.rejected_spans = batch.rejected
        response.partial_success.error_message = batch.error_message
    return response
