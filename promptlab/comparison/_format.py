"""Number formatting shared by the comparison summary and the CLI."""

from __future__ import annotations

import math

__all__ = ["pct", "pts", "pval", "signed_pct", "usd"]


def pct(x: float | None) -> str:
    """A rate as a percentage: `78.3%`."""
    return "n/a" if x is None else f"{x * 100:.1f}%"


def pts(x: float | None) -> str:
    """A rate difference in percentage points: `+5.8 pts`."""
    return "n/a" if x is None else f"{x * 100:+.1f} pts"


def signed_pct(x: float | None) -> str:
    """A relative change already in percent: `+12.0%`."""
    return "n/a" if x is None else f"{x:+.1f}%"


def pval(p: float | None) -> str:
    """A p-value with sensible precision."""
    if p is None:
        return "n/a"
    if p < 0.001:
        return "<0.001"
    return f"{p:.3f}" if p < 0.1 else f"{p:.2f}"


def usd(x: float | None) -> str:
    """An amount in USD with about three significant digits, never in scientific notation: `$0.0000800`."""
    if x is None:
        return "n/a"
    if x == 0:
        return "$0"
    decimals = max(2, 2 - math.floor(math.log10(abs(x))))
    return f"${x:,.{decimals}f}"
