"""Draws docs/schedules.svg from real runs on the virtual clock.

`python docs/timeline.py` rewrites the picture; the test suite checks that the
committed one matches what the library does today.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from repeating import RepeatedTask
from repeating.testing import VirtualClock

PERIOD = 10.0
SPAN = 60.0
PICTURE = Path(__file__).with_name("schedules.svg")

# Each row: a title, the options, and how long each run takes.
ROWS: list[tuple[str, dict[str, object], list[float]]] = [
    ("fixed rate (default): runs of 4 s", {}, [4.0] * 8),
    ("fixed_delay=True: runs of 4 s", {"fixed_delay": True}, [4.0] * 8),
    ("fixed rate, first run overruns (25 s)", {}, [25.0] + [4.0] * 8),
]


async def simulate(options: dict[str, object], durations: list[float]) -> list[tuple[float, float]]:
    """(start, end) of each run within SPAN seconds, on a virtual clock."""
    clock = VirtualClock()
    runs: list[tuple[float, float]] = []

    async def run() -> None:
        start = clock.time()
        await clock.sleep(durations[len(runs)])
        runs.append((start, clock.time()))

    task = RepeatedTask(func=run, seconds=PERIOD, clock=clock, **options)  # type: ignore[arg-type]
    task.start()
    await clock.advance(SPAN)
    task.cancel()
    await task.join()
    return runs


def render() -> str:
    """The SVG text of the picture."""
    left, top, width, row_height = 250, 30, 600, 56
    scale = width / SPAN
    height = top + row_height * len(ROWS) + 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 30}" '
        f'height="{height}" font-family="sans-serif" font-size="13">',
        f'<rect width="{left + width + 30}" height="{height}" fill="white"/>',
    ]
    for k in range(int(SPAN / PERIOD) + 1):
        x = left + k * PERIOD * scale
        parts.append(
            f'<line x1="{x:g}" y1="{top - 8}" x2="{x:g}" y2="{height - 26}" '
            'stroke="#bbb" stroke-dasharray="3,3"/>'
        )
        parts.append(
            f'<text x="{x:g}" y="{height - 10}" text-anchor="middle">{k * PERIOD:g} s</text>'
        )
    for index, (title, options, durations) in enumerate(ROWS):
        y = top + index * row_height
        parts.append(f'<text x="10" y="{y + 22}">{title}</text>')
        runs = asyncio.run(simulate(options, durations))
        starts = {start for start, _ in runs}
        for start, end in runs:
            x, w = left + start * scale, (min(end, SPAN) - start) * scale
            parts.append(
                f'<rect x="{x:g}" y="{y + 8}" width="{w:g}" height="20" rx="3" '
                'fill="#4c9be8" stroke="#1f5f99"/>'
            )
        if not options.get("fixed_delay"):
            for k in range(int(SPAN / PERIOD)):
                tick = k * PERIOD
                if tick not in starts and tick < runs[-1][0]:
                    x = left + tick * scale
                    parts.append(
                        f'<text x="{x:g}" y="{y + 44}" text-anchor="middle" '
                        'fill="#c0392b">skipped</text>'
                    )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    PICTURE.write_text(render())
