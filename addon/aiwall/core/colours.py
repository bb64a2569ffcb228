"""Colours for the pages an organisation brands: parsing `#rrggbb` and WCAG 2 contrast."""

import re

WHITE = "#ffffff"
PAGE_BACKGROUND = "#f4f5f7"  # the pages' light background (pages/static/pages.css)
MIN_CONTRAST = 4.5  # WCAG 2.1 AA for normal text
_HEX = re.compile(r"#([0-9a-fA-F]{6})")


def parse_colour(text: str) -> tuple[int, int, int]:
    """`#1a56b8` → (26, 86, 184); raise ValueError for anything else."""
    match = _HEX.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a colour written #rrggbb")
    value = int(match.group(1), 16)
    return value >> 16, (value >> 8) & 0xFF, value & 0xFF


def luminance(colour: str) -> float:
    """Relative luminance (WCAG 2.1)."""

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(channel) for channel in parse_colour(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(first: str, second: str) -> float:
    """The contrast ratio of two colours, from 1 (none) to 21 (black on white)."""
    lighter, darker = sorted((luminance(first), luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def lightened(colour: str, against: str, minimum: float = MIN_CONTRAST) -> str:
    """`colour` mixed with white in steps until it reaches `minimum` contrast with the dark
    `against` (for dark mode); white if no mix does."""
    rgb = parse_colour(colour)
    for step in range(21):
        share = step / 20
        mixed = "#" + "".join(f"{round(c + (255 - c) * share):02x}" for c in rgb)
        if contrast(mixed, against) >= minimum:
            return mixed
    return WHITE
