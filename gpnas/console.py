"""The shared rich console (stderr for progress, stdout for results)."""

from rich.console import Console

out = Console()
err = Console(stderr=True)
