"""A run directory: config, per-generation log, atomic checkpoints, results and plots.

    config.json        the full run configuration
    log.jsonl          one JSON record per generation
    checkpoint.json    the search state after the last completed generation (atomic)
    results.json       best programs, formulas, test correlations per space
    test_scores.csv    every tested program's score of every test network
    fitness.png, scatter.png
"""

from __future__ import annotations

import json
from pathlib import Path

from gpnas.atomic import write_atomic
from gpnas.errors import GpnasError


class RunDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    def create(self, config: dict) -> "RunDir":
        if (self.path / "checkpoint.json").exists():
            raise GpnasError(f"{self.path} already holds a run; use --resume {self.path} or "
                             "another --out")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise GpnasError(f"cannot create the run directory {self.path}: "
                             f"{exc.strerror or exc}") from None
        self.write("config.json", json.dumps(config, indent=2))
        self.write("log.jsonl", "")
        return self

    def write(self, name: str, data: str | bytes) -> None:
        """Write the file ``name`` of the run directory atomically (all writes go here, except
        the log's appends)."""
        write_atomic(self.path / name, data)

    def read_json(self, name: str) -> dict:
        f = self.path / name
        try:
            return json.loads(f.read_text())
        except FileNotFoundError:
            raise GpnasError(f"{f} not found: is {self.path} a gpnas run directory?") from None
        except json.JSONDecodeError as exc:
            raise GpnasError(f"{f} is corrupt ({exc}); the run cannot be resumed from it") from None

    def config(self) -> dict:
        return self.read_json("config.json")

    def checkpoint(self) -> dict | None:
        return self.read_json("checkpoint.json") if (self.path / "checkpoint.json").exists() else None

    def save_checkpoint(self, state: dict) -> None:
        self.write("checkpoint.json", json.dumps(state))

    def append_log(self, record: dict) -> None:
        with open(self.path / "log.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")

    def log(self) -> list[dict]:
        f = self.path / "log.jsonl"
        if not f.exists():
            return []
        return [json.loads(line) for line in f.read_text().splitlines() if line.strip()]

    def truncate_log(self, last_generation: int) -> None:
        """Drop records past the checkpoint (written before a kill, recomputed on resume)."""
        kept = [r for r in self.log() if r["generation"] <= last_generation]
        self.write("log.jsonl", "".join(json.dumps(r) + "\n" for r in kept))
