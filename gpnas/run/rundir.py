"""A run directory: config, per-generation log, atomic checkpoints, results and plots.

    config.json          the full run configuration
    log.jsonl            one JSON record per generation
    checkpoint.json      the search state after the last completed generation (atomic), with the
                         SHA-256 of that state and of the configuration it belongs to
    test_progress.json   the held-out test so far, block by block (a killed test resumes there)
    results.json         best programs, formulas, test correlations per space
    test_scores.csv      every tested program's score of every test network
    fitness.png, scatter.png
    .gpnas.lock          the lock of the one process writing the directory (:meth:`RunDir.lock`)

Every file read back is checked (:mod:`gpnas.schemas`); a problem is an error naming the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Iterator

from gpnas.atomic import dir_lock, remove_orphans, write_atomic
from gpnas.config import RunConfig
from gpnas.console import err
from gpnas.errors import GpnasError
from gpnas.schemas import (Checkpoint, LogRecord, SearchState, TestProgress, parse, read_json,
                           read_text)


def digest(data) -> str:
    """SHA-256 of the canonical JSON of ``data`` (keys sorted, no spaces)."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":"))
                          .encode("utf-8")).hexdigest()


class RunDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._config_sha256: str | None = None

    # -- the writer's lock
    def make(self) -> "RunDir":
        """Create the directory (and its parents) if needed."""
        if self.path.exists() and not self.path.is_dir():
            raise GpnasError(f"the run directory {self.path} exists and is not a directory")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise GpnasError(f"cannot create the run directory {self.path}: "
                             f"{exc.strerror or exc}") from None
        return self

    @contextlib.contextmanager
    def lock(self) -> Iterator["RunDir"]:
        """Be the one process writing this directory (another one: an error at once); the
        temporary files of a killed writer are removed."""
        if not self.path.is_dir():
            raise GpnasError(f"{self.path} is not a directory: is it a gpnas run directory?")
        with dir_lock(self.path, "run directory"):
            if remove_orphans(self.path):
                err.print(f"removed unfinished temporary files of a killed run in {self.path}",
                          markup=False, soft_wrap=True)
            yield self

    def create(self, config: dict) -> "RunDir":
        """Start a new run here (the directory is made if needed; a writer holds :meth:`lock`)."""
        self.make()
        if (self.path / "checkpoint.json").exists():
            raise GpnasError(f"{self.path} already holds a run; use --resume {self.path} or "
                             "another --out")
        for stale in ("test_progress.json", "results.json"):
            (self.path / stale).unlink(missing_ok=True)
        self.write("config.json", json.dumps(config, indent=2))
        self.write("log.jsonl", "")
        self._config_sha256 = digest(config)
        return self

    def write(self, name: str, data: str | bytes) -> None:
        """Write the file ``name`` of the run directory atomically (all writes go here, except
        the log's appends)."""
        write_atomic(self.path / name, data)

    # -- reading back
    def read_json(self, name: str):
        f = self.path / name
        if not f.exists() and not self.path.is_dir():
            raise GpnasError(f"{self.path} is not a directory: is it a gpnas run directory?")
        if not f.exists():
            raise GpnasError(f"{f} not found: is {self.path} a gpnas run directory?")
        return read_json(f, "run file")

    def config(self) -> dict:
        """The keys of config.json, checked."""
        data = self.read_json("config.json")
        RunConfig.from_dict(data, str(self.path / "config.json"))
        self._config_sha256 = digest(data)
        return data

    def run_config(self) -> RunConfig:
        return RunConfig.from_dict(self.config(), str(self.path / "config.json"))

    def checkpoint(self) -> dict | None:
        """The search state of checkpoint.json (None: no generation finished yet), checked
        against its checksum, config.json and the log."""
        f = self.path / "checkpoint.json"
        if not f.exists():
            return None
        data = self.read_json("checkpoint.json")
        if isinstance(data, dict) and "format" not in data:  # written before checksums (v1)
            data = {"format": "gpnas-checkpoint", "version": 2, "state": data,
                    "state_sha256": digest(data), "config_sha256": digest(self.config())}
        ck = parse(Checkpoint, data, str(f))
        if digest(ck.state) != ck.state_sha256:
            raise GpnasError(f"{f} is corrupt: its state does not match its checksum (edited or "
                             "damaged); the run cannot be resumed from it")
        cfg = self.run_config()
        if ck.config_sha256 != self._config_sha256:
            raise GpnasError(f"{f} belongs to another configuration than {self.path / 'config.json'}"
                             " (was config.json edited?); the run cannot be resumed")
        state = parse(SearchState, ck.state, f"{f}: state")
        if state.generation > cfg.generations:
            raise GpnasError(f"{f}: generation {state.generation} is past the run's "
                             f"{cfg.generations} generations")
        logged = [r["generation"] for r in self.log() if r["generation"] <= state.generation]
        if logged != list(range(state.generation + 1)):
            raise GpnasError(f"{self.path / 'log.jsonl'} does not match {f}: it should hold "
                             f"generations 0..{state.generation} in order")
        return ck.state

    def save_checkpoint(self, state: dict) -> None:
        if self._config_sha256 is None:
            self.config()
        self.write("checkpoint.json", json.dumps({
            "format": "gpnas-checkpoint", "version": 2, "config_sha256": self._config_sha256,
            "state_sha256": digest(state), "state": state}))

    def append_log(self, record: dict) -> None:
        """Append one record (never through a symbolic link: it could point anywhere)."""
        fd = os.open(self.path / "log.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT
                     | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "a") as f:
            f.write(json.dumps(record) + "\n")

    def log(self) -> list[dict]:
        """The generation records; a last line cut short (a kill while it was written) is
        dropped, any other bad line is an error naming it."""
        f = self.path / "log.jsonl"
        if not f.exists():
            return []
        text = read_text(f, "run log")
        lines = text.splitlines()
        out = []
        for i, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except (json.JSONDecodeError, RecursionError):
                if i == len(lines) and not text.endswith("\n"):
                    break  # cut short by a kill: that generation is recomputed
                raise GpnasError(f"{f}: line {i} is not a JSON record") from None
            parse(LogRecord, record, f"{f}: line {i}")
            out.append(record)
        return out

    def truncate_log(self, last_generation: int) -> None:
        """Drop records past the checkpoint (written before a kill, recomputed on resume)."""
        kept = [r for r in self.log() if r["generation"] <= last_generation]
        self.write("log.jsonl", "".join(json.dumps(r) + "\n" for r in kept))

    def test_progress(self) -> dict:
        """The held-out test so far: space -> progress (see :class:`gpnas.schemas.SpaceProgress`);
        empty when none was saved."""
        f = self.path / "test_progress.json"
        if not f.exists():
            return {}
        data = self.read_json("test_progress.json")
        parse(TestProgress, data, str(f))
        return data["spaces"]

    def save_test_progress(self, spaces: dict) -> None:
        self.write("test_progress.json", json.dumps(
            {"format": "gpnas-test-progress", "version": 1, "spaces": spaces}))
