"""The /stats chart: tickets created and resolved per day, as a PNG."""

import io
import math

from PIL import Image, ImageDraw, ImageFont

from services.stats import DayCount

WIDTH, HEIGHT = 900, 450
LEFT, RIGHT, TOP, BOTTOM = 50, 20, 70, 45  # margins around the plot
CREATED, RESOLVED = "#4e79a7", "#59a14f"
GRID, INK = "#dddddd", "#333333"
TITLE = "Tickets, last 14 days"
GRID_LINES = 4
# load_default() gives a bitmap font, not the scalable one, where Pillow lacks FreeType.
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def render_chart(days: list[DayCount]) -> bytes:
    """Two bars a day (created, resolved) with values, day labels and a legend."""
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=13)
    draw.text((WIDTH // 2, 12), TITLE, fill=INK, font=ImageFont.load_default(size=20), anchor="mt")
    _legend(draw, font)
    top = _axis(draw, font, max((max(d.created, d.resolved) for d in days), default=0))
    slot = (WIDTH - LEFT - RIGHT) / max(len(days), 1)
    bar = slot * 0.35
    for index, day in enumerate(days):
        middle = LEFT + slot * (index + 0.5)
        _bar(draw, font, middle - bar, bar, day.created / top, day.created, CREATED)
        _bar(draw, font, middle, bar, day.resolved / top, day.resolved, RESOLVED)
        label = f"{day.day.day:02}.{day.day.month:02}"
        draw.text((middle, HEIGHT - BOTTOM + 8), label, fill=INK, font=font, anchor="mt")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _axis(draw: ImageDraw.ImageDraw, font: Font, highest: int) -> int:
    """Grid lines with round values; returns the value at the top of the plot."""
    step = max(1, math.ceil(highest / GRID_LINES))
    for line in range(GRID_LINES + 1):
        y = _y(line / GRID_LINES)
        draw.line([(LEFT, y), (WIDTH - RIGHT, y)], fill=GRID if line else INK)
        draw.text((LEFT - 6, y), str(step * line), fill=INK, font=font, anchor="rm")
    return step * GRID_LINES


def _bar(
    draw: ImageDraw.ImageDraw,
    font: Font,
    x: float,
    width: float,
    share: float,
    value: int,
    colour: str,
) -> None:
    if not value:
        return
    top = _y(share)
    draw.rectangle([(x, top), (x + width - 1, _y(0))], fill=colour)
    draw.text((x + width / 2, top - 2), str(value), fill=INK, font=font, anchor="mb")


def _legend(draw: ImageDraw.ImageDraw, font: Font) -> None:
    x = WIDTH - RIGHT - 190
    for name, colour in (("created", CREATED), ("resolved", RESOLVED)):
        draw.rectangle([(x, 44), (x + 12, 56)], fill=colour)
        draw.text((x + 18, 50), name, fill=INK, font=font, anchor="lm")
        x += 95


def _y(share: float) -> float:
    """The height of a share of the plot's top value, in image coordinates."""
    return HEIGHT - BOTTOM - share * (HEIGHT - TOP - BOTTOM)
