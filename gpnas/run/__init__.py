"""A whole run: prepare the data (:mod:`.prepare`), evolve (:mod:`.evolve`), test and report
(:mod:`.report`), in a run directory (:mod:`.rundir`); and the representation ablation
(:mod:`.ablation`)."""

from __future__ import annotations

from gpnas.data.cluster import HeadLost
from gpnas.config import RunConfig
from gpnas.run.evolve import evolve
from gpnas.run.prepare import prepare
from gpnas.run.report import test_and_report
from gpnas.run.rundir import RunDir


def execute(cfg: RunConfig, rundir: RunDir, resume: bool = False, progress: bool = True,
            seeds: dict | None = None) -> dict:
    """Run (or resume) the search in ``rundir``, test the winners and write the results;
    ``seeds``: programs (name -> IR) that open the first generation."""
    try:
        data = prepare(cfg, progress)
        outcome = evolve(cfg, rundir, data, resume, progress, seeds=seeds)
        return test_and_report([outcome], data, progress)[0]
    except HeadLost as exc:
        raise HeadLost(exc.head, f"`gpnas run --resume {rundir.path}` (with --executor serial "
                       "or process: without the cluster)") from None
