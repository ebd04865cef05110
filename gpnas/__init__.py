"""gpnas: discover zero-shot neural architecture scoring metrics by genetic programming."""

from .errors import GpnasError

__version__ = "0.1.0"
__all__ = ["GpnasError", "__version__"]
