"""``agenttrace.configure()``: OpenTelemetry SDK set-up from the standard ``OTEL_*`` environment variables.

A convenience, not a requirement: the instrumentation works with any provider the application configured.
If an SDK tracer provider is already installed globally, agenttrace uses it and only adds its run-identity
processor; otherwise it installs a tracer provider exporting over OTLP (HTTP or gRPC per
``OTEL_EXPORTER_OTLP_PROTOCOL``) through a span processor that counts what it has to drop, and a meter
provider per ``OTEL_METRICS_EXPORTER``. Calling it again returns the same handle.

Exit is bounded: the providers agenttrace installs are shut down within the exit budget (``exit_timeout=``,
``AGENTTRACE_EXIT_TIMEOUT``, 3 s by default) at interpreter exit or when the ASGI server shuts the app down
(the middleware sees ``lifespan.shutdown``), whichever comes first; what could not be exported in time is
counted as dropped.
"""

from __future__ import annotations

import atexit
import os
import threading
import time

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.sampling import Sampler

from agenttrace import _names as sc
from agenttrace._guard import logger
from agenttrace.export._drops import CountingSpanProcessor
from agenttrace.export._exit import DEFAULT_EXIT_TIMEOUT, run_bounded
from agenttrace.export._exit import exit_timeout as _exit_timeout
from agenttrace.export._identity import RunIdentityProcessor

_HTTP = "http/protobuf"
_GRPC = "grpc"


class ConfigurationError(ValueError):
    """``configure()`` was asked for something it cannot set up; the message says what to do."""


class Configured:
    """What :func:`configure` set up. Keep it to flush or shut down explicitly (it also happens at exit)."""

    def __init__(
        self,
        tracer_provider: trace.TracerProvider,
        meter_provider: metrics.MeterProvider | None,
        processor: CountingSpanProcessor | None,
        owns_providers: bool,
        exit_timeout: float,
    ) -> None:
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        #: Whether agenttrace installed these providers (``False``: it uses the ones you configured).
        self.owns_providers = owns_providers
        #: Longest time the flush at exit may take, in seconds.
        self.exit_timeout = exit_timeout
        self._processor = processor
        self._shut = False
        self._shut_lock = threading.Lock()

    @property
    def dropped_spans(self) -> dict[str, int]:
        """Spans agenttrace's exporter had to drop, by reason (empty when it does not export).

        Reasons: ``queue_full`` (evicted from the full queue), ``export_failed`` (the collector refused them or
        could not be reached), ``exit_timeout`` (still queued or being exported when the exit budget ran out).
        """
        return self._processor.dropped() if self._processor is not None else {}

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Export everything queued so far; give up after ``timeout_millis``. Whether it finished in time."""
        flush = getattr(self.tracer_provider, "force_flush", None)
        if not callable(flush):
            return True
        done: list[bool] = []
        finished = run_bounded(lambda: done.append(bool(flush(timeout_millis))), timeout_millis / 1000, "force_flush")
        return finished and all(done)

    def shutdown(self, timeout: float | None = None) -> None:
        """Flush and stop the providers agenttrace installed within a budget, then warn once if spans were dropped.

        Args:
            timeout: The budget in seconds; default :attr:`exit_timeout`. Spans not exported when it runs out
                are counted as dropped (``exit_timeout``).
        """
        budget = self.exit_timeout if timeout is None else _exit_timeout(timeout)
        with self._shut_lock:
            if self._shut or not self.owns_providers:
                return
            self._shut = True
        deadline = time.monotonic() + budget
        if self._processor is not None:
            self._processor.shutdown(timeout_millis=budget * 1000)
        # Our processor is already shut; this stops any processor the application added to our provider.
        if isinstance(self.tracer_provider, TracerProvider):
            run_bounded(self.tracer_provider.shutdown, deadline - time.monotonic(), "tracer provider shutdown")
        meter_provider = self.meter_provider
        left = deadline - time.monotonic()
        if isinstance(meter_provider, MeterProvider) and left > 0:
            run_bounded(lambda: _shutdown_metrics(meter_provider, left), left, "meter provider shutdown")


def _shutdown_metrics(meter_provider: MeterProvider, seconds: float) -> None:
    """Stop the meter provider; an export that fails at exit is the collector's trouble, said in one line."""
    try:
        meter_provider.shutdown(timeout_millis=seconds * 1000)
    except Exception as exc:  # noqa: BLE001 - the SDK raises a bare Exception when a reader failed
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        logger.warning("agenttrace: metrics were not all exported at exit (%s)", first)


def configured() -> Configured | None:
    """The handle :func:`configure` returned in this process, if it was called."""
    return _configured


_lock = threading.Lock()
_configured: Configured | None = None


def configure(
    *,
    service_name: str | None = None,
    endpoint: str | None = None,
    protocol: str | None = None,
    sampler: Sampler | None = None,
    metrics_enabled: bool | None = None,
    exit_timeout: float | None = None,
) -> Configured:
    """Set up OpenTelemetry export for agenttrace; idempotent.

    Args:
        service_name: ``service.name``; default ``OTEL_SERVICE_NAME``, then ``"agent-service"``.
        endpoint: OTLP base URL (``http://127.0.0.1:4318``); default from ``OTEL_EXPORTER_OTLP_*``.
        protocol: ``"http/protobuf"`` or ``"grpc"``; default ``OTEL_EXPORTER_OTLP_PROTOCOL``, else HTTP.
        sampler: A trace sampler; default from ``OTEL_TRACES_SAMPLER`` (parent-based always-on).
        metrics_enabled: Export metrics over OTLP; default: unless ``OTEL_METRICS_EXPORTER=none``.
        exit_timeout: Longest time the flush at exit may take, in seconds; default ``AGENTTRACE_EXIT_TIMEOUT``,
            else 3. Spans not exported by then are counted as dropped (``exit_timeout``).

    Example:
        >>> handle = agenttrace.configure(service_name="support-agent")  # doctest: +SKIP
    """
    global _configured
    with _lock:
        if _configured is not None:
            return _configured
        try:
            budget = _exit_timeout(exit_timeout)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
        existing = trace.get_tracer_provider()
        if isinstance(existing, TracerProvider):  # the application configured the SDK itself: use it
            existing.add_span_processor(RunIdentityProcessor())
            meter_provider = metrics.get_meter_provider()
            _configured = Configured(existing, meter_provider, None, owns_providers=False, exit_timeout=budget)
            return _configured
        _configured = _install(service_name, endpoint, protocol, sampler, metrics_enabled, budget)
        atexit.register(_configured.shutdown)
        return _configured


def _install(
    service_name: str | None,
    endpoint: str | None,
    protocol: str | None,
    sampler: Sampler | None,
    metrics_enabled: bool | None,
    budget: float,
) -> Configured:
    name = service_name or os.environ.get("OTEL_SERVICE_NAME") or "agent-service"
    resource = Resource.create({SERVICE_NAME: name})
    proto = _protocol(protocol, "TRACES")
    # shutdown_on_exit=False: the SDK's own exit hooks wait up to 30 s on a dead collector; ours is bounded.
    tracer_provider = TracerProvider(resource=resource, sampler=sampler, shutdown_on_exit=False)
    tracer_provider.add_span_processor(RunIdentityProcessor())
    processor: CountingSpanProcessor | None = None
    if os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() != "none":
        processor = CountingSpanProcessor(_span_exporter(proto, endpoint), exit_timeout=budget)
        tracer_provider.add_span_processor(processor)
    trace.set_tracer_provider(tracer_provider)

    meter_provider: MeterProvider | None = None
    if metrics_enabled is None:
        metrics_enabled = os.environ.get("OTEL_METRICS_EXPORTER", "otlp").strip().lower() != "none"
    if metrics_enabled:
        reader = PeriodicExportingMetricReader(_metric_exporter(_protocol(protocol, "METRICS"), endpoint))
        meter_provider = MeterProvider(resource=resource, metric_readers=[reader], shutdown_on_exit=False)
        metrics.set_meter_provider(meter_provider)
        if processor is not None:
            meter = meter_provider.get_meter("agenttrace")
            meter.create_observable_counter(
                sc.METRIC_SPANS_DROPPED,
                callbacks=[processor.observe],
                unit="{span}",
                description="Spans agenttrace's exporter dropped (queue full, export failed, exit budget ran out).",
            )
    return Configured(tracer_provider, meter_provider, processor, owns_providers=True, exit_timeout=budget)


def _protocol(protocol: str | None, signal: str) -> str:
    chosen = (
        protocol
        or os.environ.get(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or _HTTP
    )
    chosen = chosen.strip().lower()
    if chosen not in (_HTTP, _GRPC):
        raise ConfigurationError(f"agenttrace: unsupported OTLP protocol {chosen!r}; use 'http/protobuf' or 'grpc'")
    return chosen


def _grpc_missing() -> ConfigurationError:
    return ConfigurationError("agenttrace: OTLP over gRPC needs the grpc extra: pip install 'agenttrace[grpc]'")


def _span_exporter(protocol: str, endpoint: str | None) -> SpanExporter:
    if protocol == _GRPC:
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
        except ImportError:
            raise _grpc_missing() from None
        return GrpcExporter(endpoint=endpoint) if endpoint else GrpcExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces") if endpoint else OTLPSpanExporter()


def _metric_exporter(protocol: str, endpoint: str | None) -> MetricExporter:
    if protocol == _GRPC:
        try:
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcExporter
        except ImportError:
            raise _grpc_missing() from None
        return GrpcExporter(endpoint=endpoint) if endpoint else GrpcExporter()
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    return OTLPMetricExporter(endpoint=f"{endpoint.rstrip('/')}/v1/metrics") if endpoint else OTLPMetricExporter()


def _reset_for_tests() -> None:
    """Forget the configured handle (tests only; the global providers stay as they are)."""
    global _configured
    with _lock:
        _configured = None


def flush_for_exit(tracer_provider: object | None = None) -> None:
    """Flush span export because the server is shutting down, within the exit budget.

    Providers agenttrace installed (:func:`agenttrace.configure`) are shut down: a final, exact drop count and
    the one warning. A provider the application configured itself is only flushed: its owner shuts it down.

    Args:
        tracer_provider: The provider the middleware was given, if any (default: the global one).
    """
    handle = configured()
    if handle is not None:
        budget = handle.exit_timeout
    else:
        try:
            budget = _exit_timeout()
        except ValueError as exc:
            logger.warning("%s; using %s s", exc, DEFAULT_EXIT_TIMEOUT)
            budget = DEFAULT_EXIT_TIMEOUT
    if handle is not None and handle.owns_providers:
        handle.shutdown()
        if tracer_provider is None or tracer_provider is handle.tracer_provider:
            return
    provider = tracer_provider if tracer_provider is not None else trace.get_tracer_provider()
    flush = getattr(provider, "force_flush", None)
    if callable(flush):
        run_bounded(lambda: flush(int(budget * 1000)), budget, "span flush at exit")
