"""The ``gpnas`` command line: one module per command, registered here."""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from primitives import PrimitiveError

from gpnas.cli.ablate import ablate_command
from gpnas.cli.baselines import baselines
from gpnas.cli.export import export_command
from gpnas.cli.ops import ops_command
from gpnas.cli.run import run_command
from gpnas.cli.score import score_command
from gpnas.cli.stats import stats_app
from gpnas.console import err
from gpnas.errors import GpnasError

app = typer.Typer(
    help="gpnas: discover zero-shot neural architecture scoring metrics (NASMs) by genetic "
    "programming, evaluated on statistics of randomly initialised networks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """gpnas: genetic programming for zero-shot NAS metrics."""


app.command("ops")(ops_command)
app.command("run")(run_command)
app.command("ablate")(ablate_command)
app.command("export")(export_command)
app.command("score")(score_command)
app.command("baselines")(baselines)
app.add_typer(stats_app, name="stats")


def main() -> None:
    """Entry point: user errors print a message and exit 2, never a traceback."""
    try:
        app()
    except (GpnasError, PrimitiveError) as exc:
        # one line, printed as it is (a file name or value in it is not markup)
        err.print(f"[bold red]error:[/] {escape(' '.join(str(exc).split()))}", soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]")
        sys.exit(130)
