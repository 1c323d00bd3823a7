"""Run every case for every contender, alternating them, and report medians.

    python benchmarks/run.py [--rounds N] [--cases drift,scale,...]

Each case runs in a fresh process per contender (benchmarks/cases.py); a round
runs all contenders, in reverse order every other round (A B C D, D C B A...)
so that slow drifts of the machine hit them alike. Results go to
benchmarks/results.json, the table in docs/benchmarks.md (between its
markers) and the plot docs/benchmarks.png.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DOC = ROOT / "docs" / "benchmarks.md"
PLOT = ROOT / "docs" / "benchmarks.png"
RESULTS = HERE / "results.json"

CONTENDERS = ["repeating", "bare", "fastapi_utils", "apscheduler"]
FAILURES: dict[str, dict[str, str]] = {}  # case -> contender -> why it has no figures
CASES = ["drift", "scale", "loop_health", "large"]

# (case, metric, label, target ratio to the bare loop or None, target note)
METRICS: list[tuple[str, str, str, float | None, str]] = [
    ("drift", "run100_late_ms", "drift: lateness of run 100 (ms)", None, "≤ 2 ms"),
    ("drift", "p99_late_ms", "drift: p99 lateness (ms)", None, ""),
    ("scale", "cpu_us_per_run", "10k tasks: CPU per run (µs)", 1.15, "≤ 1.15×"),
    ("scale", "rss_bytes_per_task", "10k tasks: memory per task (bytes)", 1.3, "≤ 1.3×"),
    ("scale", "start_all_ms", "10k tasks: construct and start all (ms)", 2.0, "≤ 2×"),
    ("scale", "stop_all_ms", "10k tasks: stop and join all (ms)", 1.5, "≤ 1.5×"),
    ("scale", "p99_late_ms", "10k tasks: p99 lateness (ms)", None, ""),
    (
        "loop_health",
        "worst_lag_ms",
        "4 blocking sync tasks: worst loop lag (ms)",
        None,
        "≤ bare + 2 ms",
    ),
    ("large", "rss_bytes_per_task", "100k tasks: memory per task (bytes)", None, ""),
    ("large", "cpu_share", "100k tasks: CPU share", None, ""),
    ("large", "runs_per_task_per_period", "100k tasks: runs per task per period", None, "1.00"),
]


def run_one(case: str, contender: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, str(HERE / "cases.py"), case, contender],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if out.returncode != 0 or not out.stdout.strip():
        print(f"  {case}/{contender} failed:\n{out.stderr[-2000:]}", file=sys.stderr)
        return {}
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    if "error" in result:
        print(f"  {case}/{contender}: {result['error']}", file=sys.stderr)
        FAILURES.setdefault(case, {})[contender] = str(result["error"])
        return {}
    return result


def measure(cases: list[str], rounds: int) -> dict[str, dict[str, dict[str, list[float]]]]:
    samples: dict[str, dict[str, dict[str, list[float]]]] = {}
    for case in cases:
        for r in range(rounds):
            order = CONTENDERS if r % 2 == 0 else CONTENDERS[::-1]
            for contender in order:
                print(f"{case} round {r + 1}/{rounds}: {contender}", flush=True)
                for metric, value in run_one(case, contender).items():
                    per = samples.setdefault(case, {}).setdefault(contender, {})
                    per.setdefault(metric, []).append(value)
    return samples


def medians(samples: dict[str, Any]) -> dict[str, dict[str, dict[str, float]]]:
    return {
        case: {
            contender: {metric: statistics.median(values) for metric, values in per.items()}
            for contender, per in by_contender.items()
        }
        for case, by_contender in samples.items()
    }


def fmt(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}"


def table(med: dict[str, dict[str, dict[str, float]]]) -> str:
    head = "| measure | " + " | ".join(CONTENDERS) + " | repeating / bare | target |"
    lines = [head, "|" + "---|" * (len(CONTENDERS) + 3)]
    for case, metric, label, _, note in METRICS:
        if case not in med:
            continue
        values = [med[case].get(c, {}).get(metric) for c in CONTENDERS]
        ours, bare = values[0], values[1]
        ratio = "n/a"
        if ours is not None and bare and not math.isnan(bare):
            ratio = f"{ours / bare:.2f}×"
        lines.append(
            f"| {label} | " + " | ".join(fmt(v) for v in values) + f" | {ratio} | {note} |"
        )
    return "\n".join(lines)


def verdicts(med: dict[str, dict[str, dict[str, float]]]) -> list[str]:
    """One line per target: the figure and whether it holds."""
    lines = []
    for case, metric, label, limit, _ in METRICS:
        if limit is None or case not in med:
            continue
        ratio = med[case]["repeating"][metric] / med[case]["bare"][metric]
        lines.append(f"{label}: {ratio:.2f}× (target ≤ {limit}×) {'✓' if ratio <= limit else '✗'}")
    if "drift" in med:
        late = med["drift"]["repeating"]["run100_late_ms"]
        lines.append(
            f"drift: run 100 late by {late:.2f} ms (target ≤ 2 ms) {'✓' if late <= 2 else '✗'}"
        )
    if "loop_health" in med:
        ours = med["loop_health"]["repeating"]["worst_lag_ms"]
        bare = med["loop_health"]["bare"]["worst_lag_ms"]
        mark = "✓" if ours <= bare + 2 else "✗"
        lines.append(f"loop lag: {ours:.2f} ms vs bare {bare:.2f} ms (target ≤ bare + 2 ms) {mark}")
    return lines


def plot(med: dict[str, dict[str, dict[str, float]]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [(c, m, label) for c, m, label, limit, _ in METRICS if limit is not None and c in med]
    shown += [("drift", "run100_late_ms", "drift: run 100 late (ms)")] if "drift" in med else []
    fig, axes = plt.subplots(1, len(shown), figsize=(3.2 * len(shown), 3.6))
    if len(shown) == 1:
        axes = [axes]
    colors = ["#2a7ab0", "#7f7f7f", "#d9822b", "#9b59b6"]
    for ax, (case, metric, label) in zip(axes, shown, strict=True):
        values = [med[case].get(c, {}).get(metric, math.nan) for c in CONTENDERS]
        heights = [0 if math.isnan(v) else v for v in values]
        ax.bar(range(len(CONTENDERS)), heights, color=colors)
        for x, v in enumerate(values):
            ax.text(
                x,
                heights[x],
                "n/a" if math.isnan(v) else fmt(v),
                ha="center",
                va="bottom",
                fontsize=7,
            )
        ax.set_xticks(
            range(len(CONTENDERS)), [c.replace("_", "\n") for c in CONTENDERS], fontsize=7
        )
        ax.set_title(label.replace(": ", ":\n", 1), fontsize=8)
        ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    fig.savefig(PLOT, dpi=110)


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {platform.system()}"
    )


def write_doc(med: dict[str, dict[str, dict[str, float]]], rounds: dict[str, int]) -> None:
    text = DOC.read_text()
    start, end = "<!-- results:start -->", "<!-- results:end -->"
    per_case = ", ".join(f"{case} {n}" for case, n in rounds.items())
    body = (
        f"{start}\nMachine: {machine()}. Medians of several rounds ({per_case}).\n\n"
        + table(med)
        + "\n\nTargets:\n\n"
        + "\n".join(f"- {line}" for line in verdicts(med))
        + "".join(
            f"\n\n{contender} has no figures for {case}: {why}."
            for case, per in FAILURES.items()
            for contender, why in per.items()
        )
        + f"\n{end}"
    )
    before, rest = text.split(start, 1)
    after = rest.split(end, 1)[1]
    DOC.write_text(before + body + after)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument(
        "--report", action="store_true", help="rebuild the page and plot from results.json"
    )
    args = parser.parse_args()
    cases = [] if args.report else [c for c in args.cases.split(",") if c]
    med = medians(measure(cases, args.rounds))
    rounds = dict.fromkeys(cases, args.rounds)
    if RESULTS.exists() and set(cases) != set(CASES):
        # A partial run updates only its cases.
        old = json.loads(RESULTS.read_text())
        med = {**old["medians"], **med}
        rounds = {**old["rounds"], **rounds}
        kept = {c: per for c, per in old.get("failures", {}).items() if c not in cases}
        FAILURES.update({**kept, **FAILURES})
    RESULTS.write_text(
        json.dumps(
            {"machine": machine(), "rounds": rounds, "medians": med, "failures": FAILURES},
            indent=2,
        )
    )
    write_doc(med, rounds)
    plot(med)
    print(table(med))
    print("\n".join(verdicts(med)))


if __name__ == "__main__":
    main()
