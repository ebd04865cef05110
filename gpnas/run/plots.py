"""Plots of a run: the fitness curve and score-vs-accuracy scatter of the best program, as PNG
bytes (the run directory writes them atomically)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def fitness_curve(log: list[dict]) -> bytes:
    gens = [r["generation"] for r in log]
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label in (("best_fitness", "best"), ("median_fitness", "median")):
        ax.plot(gens, [r[key] if r[key] is not None else float("nan") for r in log],
                marker="o", label=label)
    ax.set_xlabel("generation")
    ax.set_ylabel("fitness (rank correlation, combined over spaces)")
    ax.grid(alpha=0.3)
    ax.legend()
    return png(fig)


def score_scatter(per_space: dict[str, tuple], title: str) -> bytes:
    """per_space: space -> (scores, accuracies, kendall tau)."""
    n = max(1, len(per_space))
    fig, axes = plt.subplots(1, n, figsize=(4.5 * n, 4), squeeze=False)
    for ax, (space, (scores, acc, tau)) in zip(axes[0], per_space.items()):
        ax.scatter(scores, acc, s=6, alpha=0.5)
        ax.set_title(f"{space}  tau={tau:.3f}" if tau is not None else space)
        ax.set_xlabel("NASM score")
        ax.set_ylabel("accuracy (%)")
        ax.grid(alpha=0.3)
    fig.suptitle(title[:120], fontsize=8)
    return png(fig)


def png(fig) -> bytes:
    """The figure as PNG bytes; the figure is closed."""
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=120)
    plt.close(fig)
    return buf.getvalue()
