"""Where instrumentation finds its tracer and meter.

The instrumentation path talks to the OpenTelemetry API only. It uses the ``tracer_provider`` /
``meter_provider`` a caller passes, else an override installed by :mod:`agenttrace.testing`, else the global
providers (through the API's proxies, so a provider configured after decoration is still picked up).
"""

from __future__ import annotations

from opentelemetry import metrics, trace

from agenttrace._version import __version__

_SCOPE = "agenttrace"

_tracer_override: trace.Tracer | None = None
_meter_override: metrics.MeterProvider | None = None
_global_tracer: trace.Tracer = trace.get_tracer(_SCOPE, __version__)
# The API's global meter provider, looked up once: before one is set it is the API's proxy, which forwards
# to the real provider once one is set, so the cached object stays right (and the lookup reads os.environ).
_global_meter_provider: metrics.MeterProvider | None = None


def set_overrides(tracer_provider: trace.TracerProvider | None, meter_provider: metrics.MeterProvider | None) -> None:
    """Install (or with ``None``, remove) providers that take precedence over the global ones."""
    global _tracer_override, _meter_override
    _tracer_override = None if tracer_provider is None else get_tracer(tracer_provider)
    _meter_override = meter_provider


def current_tracer() -> trace.Tracer:
    """The tracer for instrumentation given no provider: the test override, else the global one."""
    return _tracer_override if _tracer_override is not None else _global_tracer


def get_tracer(tracer_provider: trace.TracerProvider | None = None) -> trace.Tracer:
    """The tracer for ``tracer_provider`` if given, else :func:`current_tracer`."""
    if tracer_provider is not None:
        return tracer_provider.get_tracer(_SCOPE, __version__)
    return current_tracer()


def get_meter_provider(meter_provider: metrics.MeterProvider | None = None) -> metrics.MeterProvider:
    """The meter provider to record into: the one passed, the test override, or the global one."""
    if meter_provider is not None:
        return meter_provider
    if _meter_override is not None:
        return _meter_override
    global _global_meter_provider
    if _global_meter_provider is None:
        _global_meter_provider = metrics.get_meter_provider()
    return _global_meter_provider
