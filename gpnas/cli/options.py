"""Command-line options that several ``gpnas`` commands share, declared once.

Each function returns a fresh ``typer.Option`` to use as a parameter default, e.g.
``bench_dir: Optional[Path] = bench_dir_option()``; :func:`opt` declares an option whose default
comes from elsewhere (a config file, the run's settings), so the help text states it.
"""

from __future__ import annotations

import typer
from rich.markup import escape


def bench_dir_option():
    """``--bench-dir``: where the ground truth comes from (``gpnas.data.groundtruth.load_benchmark``)."""
    return typer.Option(None, "--bench-dir", help="Benchmark data directory (layout of "
                        "shared/benchdata), or a CSV/NDS JSON file; default $GPNAS_BENCH_DIR, "
                        "else the embedded nb201-cifar10 table.")


def images_option():
    """``--images``: the real images statistics and data metrics are computed on
    (``gpnas.data.stats.images.sample_images``)."""
    return typer.Option(None, "--images", help="CIFAR python batches or a folder of images "
                        "(default: matplotlib's sample photograph).")


def opt(default, *names, help: str):
    """An option whose default the help text states (``show_default`` off); its brackets are
    text, not rich markup (which would swallow "[default: ...]")."""
    return typer.Option(default, *names, help=escape(help), show_default=False)
