"""Charts of a ``bench/run.py`` run: ``charts.py RESULTS.json DOCS_DIR``.

Runs in ``bench/.venvs/charts`` (matplotlib from ``bench/charts-requirements.txt``), not in
Gatehouse's venv: writes ``bench-throughput.png`` (median req/s per scenario and server) and
``bench-cpu.png`` (median server CPU per request, per scenario and server).
"""

import json
import statistics
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLOURS = {"gatehouse": "#1f6feb", "guide": "#d29922", "dot": "#8250df", "dot-fast": "#bf3989"}


def grouped(results: list[dict]) -> dict[str, dict[str, list[dict]]]:
    out: dict[str, dict[str, list[dict]]] = {}
    for r in results:
        out.setdefault(r["key"], {}).setdefault(r["peer"], []).append(r)
    return out


def colour(peer: str) -> str:
    return COLOURS.get(peer.split(" ")[0], "#666666")


def bars(ax, data, metric: str, title: str, unit: str, log: bool = False) -> None:
    labels, values, colours = [], [], []
    for key, peers in data.items():
        for peer, runs in peers.items():
            labels.append(f"{key}: {peer}")
            values.append(statistics.median(r[metric] for r in runs))
            colours.append(colour(peer))
    ys = range(len(labels))
    ax.barh(ys, values, color=colours)
    ax.set_yticks(list(ys), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(unit)
    if log:
        ax.set_xscale("log")
    ax.set_title(title)
    for y, v in zip(ys, values, strict=True):
        ax.text(v, y, f" {v:.0f}" if v >= 10 else f" {v:.1f}", va="center", fontsize=7)
    ax.grid(axis="x", alpha=0.3)


def main() -> None:
    results_path, docs = Path(sys.argv[1]), Path(sys.argv[2])
    run = json.loads(results_path.read_text())
    data = grouped(run["results"])
    context = run["context"]
    rows = sum(len(p) for p in data.values())
    fig, ax = plt.subplots(figsize=(10, 0.32 * rows + 1.5))
    bars(ax, data, "rps", f"Throughput, median of {context['rounds']} rounds "
         f"({context['when']}, wrk -t2 -c8, 2 sync workers)", "requests/s (log scale)",
         log=True)  # fmt: skip
    fig.tight_layout()
    fig.savefig(docs / "bench-throughput.png", dpi=110)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(10, 0.32 * rows + 1.5))
    bars(ax, data, "cpu_ms", "Server CPU per request (gunicorn master + workers)",
         "ms per request (log scale)", log=True)  # fmt: skip
    fig.tight_layout()
    fig.savefig(docs / "bench-cpu.png", dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
