"""The entropy colour scale shared by the CLI, the TUI and HTML exports.

Low entropy is cool and quiet, entropy near θ turns warm, above θ it is hot.
Pure functions of numbers; every face draws with them.
"""

from __future__ import annotations

import math

# (position in [0, 1] of the scale, RGB)
_STOPS = [
    (0.00, (110, 160, 230)),  # certain: soft blue
    (0.35, (120, 200, 140)),  # a little doubt: green
    (0.70, (235, 200, 80)),   # approaching θ: amber
    (1.00, (235, 80, 70)),    # at or above θ: red
]


def scale_max(theta: float, k: int) -> float:
    """Top of the scale: θ sits at 70% of it, capped by ln K (the largest entropy)."""
    top = math.log(max(k, 2))
    return max(min(top, theta / 0.7 if theta > 0 else top), 1e-6)


def entropy_rgb(h: float, theta: float, k: int = 20) -> tuple[int, int, int]:
    """Colour of a token whose top-K entropy is ``h`` nats."""
    if not math.isfinite(h):
        return (150, 150, 150)
    x = 1.0 if h >= theta and theta > 0 else min(max(h / scale_max(theta, k), 0.0), 1.0)
    for (x0, c0), (x1, c1) in zip(_STOPS, _STOPS[1:]):
        if x <= x1:
            f = 0.0 if x1 == x0 else (x - x0) / (x1 - x0)
            return tuple(round(a + (b - a) * f) for a, b in zip(c0, c1))  # type: ignore[return-value]
    return _STOPS[-1][1]


def entropy_hex(h: float, theta: float, k: int = 20) -> str:
    r, g, b = entropy_rgb(h, theta, k)
    return f"#{r:02x}{g:02x}{b:02x}"
