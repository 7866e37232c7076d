"""Expected-span-tree builders shared by the tests (the shape of ``agenttrace.testing.Capture.tree()``)."""

from __future__ import annotations

from typing import Any


def node(
    name: str, kind: str = "INTERNAL", status: str = "UNSET", children: Any = (), events: Any = (), **attrs: Any
) -> dict[str, Any]:
    """One expected span: name, kind, status, exact attributes, event names and child nodes."""
    return {
        "name": name,
        "kind": kind,
        "status": status,
        "attributes": attrs,
        "events": list(events),
        "children": list(children),
    }
