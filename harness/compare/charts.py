"""throughput.png and p99.png: a line per runner against the number of users.

Both axes of users are logarithmic (1 to 1000 users), p99 latency too. Generator-bound points
have hollow markers, points with stalled connections a black cross (a rate with starving
connections behind it is not a good rate), and the throughput chart draws the generator
ceiling as a dashed line. matplotlib is imported only here, and only when a chart is drawn:
it is slow to import and nothing else needs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from harness.compare.records import Comparison, Point

# (file name, y label, value of a point, logarithmic y axis)
CHARTS: tuple[tuple[str, str, Callable[[Point], float | None], bool], ...] = (
    ("throughput.png", "requests/s", lambda point: point.rps, False),
    ("p99.png", "p99 latency (ms)", lambda point: (point.latency_us.p99 or 0) / 1000.0, True),
)


def write_charts(comparison: Comparison, out_dir: Path, unit_of_users: str) -> list[Path]:
    """Draw the charts into ``out_dir``.

    Args:
        unit_of_users: what a user holds, for the x label (``connections``, ``sockets``).

    Returns:
        The paths written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    written = []
    measured = [point for point in comparison.points if point.measured]
    for filename, ylabel, value_of, log_y in CHARTS:
        figure, axes = pyplot.subplots(figsize=(10.5, 5.5))
        for runner in comparison.settings.runners:
            points = [point for point in measured if point.runner == runner and value_of(point) is not None]
            if not points:
                continue
            xs = [point.users for point in points]
            ys = [value_of(point) for point in points]
            (line,) = axes.plot(xs, ys, marker="o", label=runner)
            bound = [(x, y) for x, y, point in zip(xs, ys, points) if point.generator_bound]
            if bound:
                axes.scatter(
                    [x for x, _ in bound], [y for _, y in bound], s=90, facecolors="white",
                    edgecolors=line.get_color(), zorder=3,
                )
            stalled = [(x, y) for x, y, point in zip(xs, ys, points) if point.stalled_connections]
            if stalled:
                axes.scatter(
                    [x for x, _ in stalled], [y for _, y in stalled], s=40, marker="x",
                    color="black", zorder=4, label="_stalled",
                )
        if any(point.stalled_connections for point in measured):
            axes.scatter([], [], s=40, marker="x", color="black", label="point with stalled connections")
        ceiling = comparison.generator_ceiling.rps
        if filename == "throughput.png" and ceiling:
            axes.axhline(ceiling, linestyle="--", color="grey", label="generator ceiling")
        axes.set_xscale("log")
        users = sorted({point.users for point in comparison.points})
        if users:
            axes.set_xticks(users)
            axes.set_xticklabels([str(count) for count in users])
            axes.minorticks_off()
        if log_y:
            axes.set_yscale("log")
        axes.set_xlabel(f"concurrent users ({unit_of_users})")
        axes.set_ylabel(ylabel)
        budget = comparison.settings.server_cpu
        capped = f"server CPU {budget:g} of a core; " if budget is not None else ""
        axes.set_title(
            f"{comparison.service}: {ylabel} vs users ({capped}{comparison.mode}; hollow: generator-bound; x: stalls)"
        )
        axes.grid(True, which="both", alpha=0.3)
        axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the plot, not over it
        figure.tight_layout()
        path = out_dir / filename
        figure.savefig(path, dpi=100)
        pyplot.close(figure)
        written.append(path)
    return written
