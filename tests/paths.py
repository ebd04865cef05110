"""Where the tests find the repository and the shared ground truth (``../shared/benchdata``)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCHDATA = REPO.parent / "shared" / "benchdata"
