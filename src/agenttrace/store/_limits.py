"""Size limits on what the store accepts: attribute values are trimmed, oversized spans are refused.

Attribute values follow the OpenTelemetry attribute-limit convention (``OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT``):
a string value, and each string in an array value, longer than ``max_attribute_length`` characters is cut
to that length. The keys of a span's cut attributes are listed in its ``agenttrace.trimmed_attributes``
attribute (a string array, kept in ``otlp_rest``); cut resource attributes are listed under the same key in
``resource_attributes``. A span whose encoded size is still over ``max_span_bytes`` after trimming (a huge
name, event or link) is refused with an OTLP partial success saying ``span over N bytes``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue

from agenttrace import _names as names

DEFAULT_MAX_ATTRIBUTE_LENGTH = 16_384
DEFAULT_MAX_SPAN_BYTES = 1024 * 1024
TRIMMED_KEY = names.TRIMMED_ATTRIBUTES


@dataclass(frozen=True)
class Limits:
    """Per-value and per-span size limits (picklable, for worker processes).

    Args:
        max_attribute_length: Characters kept of a string attribute value (and of each string in an array).
        max_span_bytes: Largest encoded span (protobuf bytes, after trimming) that is stored.
    """

    max_attribute_length: int = DEFAULT_MAX_ATTRIBUTE_LENGTH
    max_span_bytes: int = DEFAULT_MAX_SPAN_BYTES

    def __post_init__(self) -> None:
        if self.max_attribute_length < 1:
            raise ValueError("the attribute value length limit must be at least 1")
        if self.max_span_bytes < 1024:
            raise ValueError("the span size limit must be at least 1024 bytes")


def trim_value(value: Any, limit: int) -> bool:
    """Cut a string ``AnyValue`` (or the strings of an array value) to ``limit`` characters, in place.

    Returns:
        Whether anything was cut.
    """
    which = value.WhichOneof("value")
    if which == "string_value":
        if len(value.string_value) > limit:
            value.string_value = value.string_value[:limit]
            return True
        return False
    if which == "array_value":
        cut = False
        for item in value.array_value.values:
            if item.WhichOneof("value") == "string_value" and len(item.string_value) > limit:
                item.string_value = item.string_value[:limit]
                cut = True
        return cut
    return False


def trim_attribute_map(attributes: Any, limit: int) -> None:
    """Trim the values of a span view's attribute map (key -> serialised ``AnyValue``) and mark them.

    Only values longer than ``limit`` bytes are decoded: a string of more than ``limit`` characters has at
    least that many bytes.
    """
    trimmed = []
    for key in [key for key in attributes if len(attributes[key]) > limit]:  # not changing the map while iterating
        value = AnyValue.FromString(attributes[key])
        if trim_value(value, limit):
            attributes[key] = value.SerializeToString()
            trimmed.append(key)
    if trimmed:
        marker = ArrayValue(values=[AnyValue(string_value=key) for key in sorted(trimmed)])
        attributes[TRIMMED_KEY] = AnyValue(array_value=marker).SerializeToString()


def trim_key_values(key_values: Any, limit: int) -> list[str]:
    """Trim the values of an OTLP ``KeyValue`` list in place; return the keys that were cut."""
    return sorted(kv.key for kv in key_values if trim_value(kv.value, limit))
