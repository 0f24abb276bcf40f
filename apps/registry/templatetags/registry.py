"""Template filters of the registry's pages."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def metric(value: object) -> str:
    """Format a metric with up to six significant digits: 0.93, 1250, 3.1416e-05."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return str(value)
    return f"{value:.6g}"
