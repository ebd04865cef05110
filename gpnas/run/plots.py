"""Plots of a run: the fitness curve and score-vs-accuracy scatter of the best program."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def fitness_curve(log: list[dict], path: Path) -> None:
    gens = [r["generation"] for r in log]
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label in (("best_fitness", "best"), ("median_fitness", "median")):
        ax.plot(gens, [r[key] if r[key] is not None else float("nan") for r in log],
                marker="o", label=label)
    ax.set_xlabel("generation")
    ax.set_ylabel("fitness (min Kendall tau over sampled spaces)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def score_scatter(per_space: dict[str, tuple], title: str, path: Path) -> None:
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
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
