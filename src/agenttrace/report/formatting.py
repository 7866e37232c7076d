"""Number formatting shared by the human-readable renderers (table, markdown)."""

from __future__ import annotations

DASH = "-"


def ms(value: float | None) -> str:
    """Milliseconds, to the millisecond (``1,234``), or a dash."""
    return DASH if value is None else f"{value:,.0f}"


def num(value: float | None, digits: int = 2) -> str:
    """A figure with ``digits`` decimals, trailing zeros dropped (``1.25``, ``2``), or a dash."""
    if value is None:
        return DASH
    text = f"{value:,.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def pct(value: float | None) -> str:
    """A fraction as a percentage with one decimal (``25.0%``), or a dash."""
    return DASH if value is None else f"{value * 100:.1f}%"


def text(value: str | None) -> str:
    """A name, or a dash for none."""
    return DASH if value is None else value
