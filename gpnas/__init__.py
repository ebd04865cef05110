"""gpnas: discover zero-shot neural architecture scoring metrics by genetic programming."""

from gpnas.errors import GpnasError
from gpnas.nasm.score import score  # light: torch and the engine load when a model is scored

__version__ = "0.1.0"
__all__ = ["GpnasError", "__version__", "score"]
