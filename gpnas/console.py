"""The shared rich consoles (stderr for progress, stdout for results) and the progress bar."""

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)

out = Console()
err = Console(stderr=True)


def progress_bar(enabled: bool = True, transient: bool = True) -> Progress:
    """The progress bar of every long job: description, bar, done/total, elapsed, remaining;
    on stderr, silent when not ``enabled``."""
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=err,
                    disable=not enabled, transient=transient)
