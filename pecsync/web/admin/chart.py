"""The burn-down chart of an order as a self-contained SVG (no script, no style element, no
third-party asset): members not done yet at the end of each day since the first copy, the
straight line that reaches zero on the deadline, and the projection at the pace so far.

Drawn in a 440 x 300 view box with large text (17 units), so it stays readable scaled down
to a phone's width."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from xml.sax.saxutils import escape

W, H = 440, 300
LEFT, RIGHT, TOP, BOTTOM = 44, 16, 38, 52
INK, MUTED, GRID = "#1d2733", "#5a6878", "#d5dce4"
ACTUAL, IDEAL, PROJECTION, DEADLINE = "#0b5cad", "#8a96a3", "#c25e00", "#b3261e"


def remaining_by_day(members: int, done_days: Sequence[date], start: date, today: date
                     ) -> list[tuple[date, int]]:
    """``[(day, members not done at its end), ...]`` from *start* to *today*."""
    out = []
    d = start
    while d <= today:
        out.append((d, members - sum(1 for x in done_days if x <= d)))
        d += timedelta(days=1)
    return out


def _label(d: date) -> str:
    return d.strftime("%d/%m")


def burndown_svg(*, members: int, done_days: Sequence[date], start: date | None, today: date,
                 deadline: date | None, projected: date | None, title: str) -> str:
    start = min(start or today, today)
    end = max(x for x in (today + timedelta(days=1), deadline, projected) if x is not None)
    span = max((end - start).days, 1)
    top = max(members, 1)

    def x(d: date) -> float:
        return round(LEFT + (W - LEFT - RIGHT) * (d - start).days / span, 1)

    def y(n: float) -> float:
        return round(TOP + (H - TOP - BOTTOM) * (1 - n / top), 1)

    series = remaining_by_day(members, done_days, start, today)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" '
             f'role="img" aria-labelledby="t" font-family="system-ui, sans-serif" '
             f'font-size="17" fill="{INK}">', f'<title id="t">{escape(title)}</title>',
             f'<rect width="{W}" height="{H}" fill="#fff"/>']
    # Horizontal grid: 0, half, all members.
    for n in sorted({0, top // 2, top}):
        parts.append(f'<line x1="{LEFT}" y1="{y(n)}" x2="{W - RIGHT}" y2="{y(n)}" '
                     f'stroke="{GRID}"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y(n) + 5}" text-anchor="end" '
                     f'fill="{MUTED}">{n}</text>')
    parts.append(f'<text x="{LEFT - 36}" y="22" fill="{MUTED}">'
                 f'iscritti non ancora completati</text>')
    # Date labels: start, today, end (the deadline or the projection when later).
    labels = {start: "start", today: "oggi", end: "end"}
    if deadline:
        labels[deadline] = "deadline"
    used: list[float] = []
    for d in sorted(labels):
        px = x(d)
        if any(abs(px - u) < 56 for u in used):
            continue
        used.append(px)
        anchor = "start" if px < LEFT + 20 else "end" if px > W - RIGHT - 20 else "middle"
        text = "oggi" if labels[d] == "oggi" else _label(d)
        parts.append(f'<text x="{px}" y="{H - BOTTOM + 20}" text-anchor="{anchor}" '
                     f'fill="{MUTED}">{text}</text>')
    parts.append(f'<line x1="{LEFT}" y1="{H - BOTTOM}" x2="{W - RIGHT}" y2="{H - BOTTOM}" '
                 f'stroke="{MUTED}"/>')
    # The straight line to zero on the deadline.
    if deadline and deadline > start:
        parts.append(f'<line x1="{x(start)}" y1="{y(members)}" x2="{x(deadline)}" '
                     f'y2="{y(0)}" stroke="{IDEAL}" stroke-width="2" '
                     f'stroke-dasharray="2 5"/>')
    if deadline:
        parts.append(f'<line x1="{x(deadline)}" y1="{TOP - 6}" x2="{x(deadline)}" '
                     f'y2="{H - BOTTOM}" stroke="{DEADLINE}" stroke-width="2"/>')
        anchor = "end" if x(deadline) > W / 2 else "start"
        dx = -4 if anchor == "end" else 4
        parts.append(f'<text x="{x(deadline) + dx}" y="{TOP + 8}" text-anchor="{anchor}" '
                     f'fill="{DEADLINE}">scadenza {_label(deadline)}</text>')
    # What happened: a step line, one step per day.
    points = [f"{x(start)},{y(members)}"]
    for d, left in series:
        points.append(f"{x(d + timedelta(days=1)) if d < today else x(d)},{y(left)}")
    parts.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="{ACTUAL}" '
                 f'stroke-width="3" stroke-linejoin="round"/>')
    left_now = series[-1][1] if series else members
    parts.append(f'<circle cx="{x(today)}" cy="{y(left_now)}" r="4.5" fill="{ACTUAL}"/>')
    # The projection at the pace so far.
    if projected and left_now > 0:
        parts.append(f'<line x1="{x(today)}" y1="{y(left_now)}" x2="{x(projected)}" '
                     f'y2="{y(0)}" stroke="{PROJECTION}" stroke-width="3" '
                     f'stroke-dasharray="8 6"/>')
    # The legend, under the axis.
    ly = H - 12
    legend = [(ACTUAL, "", "fatto"), (PROJECTION, "8 6", "previsione"),
              (IDEAL, "2 5", "ritmo necessario")]
    lx = LEFT - 36
    for color, dash, text in legend:
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(f'<line x1="{lx}" y1="{ly - 5}" x2="{lx + 22}" y2="{ly - 5}" '
                     f'stroke="{color}" stroke-width="3"{dash_attr}/>')
        parts.append(f'<text x="{lx + 27}" y="{ly}">{text}</text>')
        lx += 40 + len(text) * 9
    parts.append("</svg>")
    return "\n".join(parts)
