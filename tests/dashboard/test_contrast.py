"""The dashboard's colours meet WCAG AA contrast (4.5:1 for text) in the light and dark schemes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS = Path(__file__).resolve().parents[2] / "comments" / "dashboard" / "static" / "dashboard.css"

# (text colour, background) pairs the stylesheet puts together.
PAIRS = [
    ("text", "panel"),
    ("text", "bg"),
    ("muted", "panel"),
    ("muted", "bg"),
    ("muted", "quote"),
    ("accent", "panel"),
    ("accent", "bg"),
    ("accent-text", "accent"),
    ("ok", "panel"),
    ("bad", "panel"),
    ("warn", "panel"),
    ("ok", "ok-bg"),
    ("bad", "bad-bg"),
    ("warn", "warn-bg"),
    ("text", "bar-track"),
    ("muted", "ok-bg"),
    ("muted", "bad-bg"),
    ("text", "quote"),
]


def _schemes() -> dict[str, dict[str, str]]:
    css = CSS.read_text()
    light = re.search(r":root \{(.*?)\}", css, re.S).group(1)
    dark = re.search(r"prefers-color-scheme: dark\) \{\s*:root \{(.*?)\}", css, re.S).group(1)
    return {
        name: dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-f]{6})", block))
        for name, block in (("light", light), ("dark", dark))
    }


def _luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _ratio(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_colours_have_aa_contrast(scheme):
    colours = _schemes()[scheme]
    poor = {
        f"{fg} on {bg}": round(_ratio(colours[fg], colours[bg]), 2)
        for fg, bg in PAIRS
        if _ratio(colours[fg], colours[bg]) < 4.5
    }
    assert poor == {}
    # The focus ring must stand out from the page (WCAG 2.2 non-text contrast, 3:1).
    assert _ratio(colours["focus"], colours["bg"]) >= 3 and _ratio(colours["focus"], colours["panel"]) >= 3
