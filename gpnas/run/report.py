"""The end of a run: its candidates tested on held-out networks, results.json, test scores and
plots."""

from __future__ import annotations

import json
import time

from primitives import full_primitive_set

from gpnas.config import RunConfig
from gpnas.evaluation.engine import Engine, EngineConfig
from gpnas.evaluation.heldout import HELDOUT_BLOCK, score_heldout
from gpnas.evaluation.ray_backend import heldout_runner
from gpnas.errors import GpnasError
from gpnas.run.evolve import Outcome
from gpnas.run.plots import fitness_curve, score_scatter
from gpnas.run.prepare import SpaceData
from gpnas.run.rundir import RunDir, digest
from gpnas.search.loop import State
from gpnas.search.selection import top_k


def candidates(cfg: RunConfig, state: State, representation) -> list[tuple[str, object]]:
    """The final top-3 (Algorithm 1) and the two best programs ever seen, without repeats."""
    genomes = [g for g, _ in state.last]
    fits = [e.fitness for _, e in state.last]
    sizes = [representation.size(g) for g in genomes]
    out, seen = [], set()
    for rank, i in enumerate(top_k(fits, sizes, 3, cfg.bloat == "parsimony")):
        if fits[i] is not None and representation.lower(genomes[i]).key not in seen:
            seen.add(representation.lower(genomes[i]).key)
            out.append((f"final-top{rank + 1}", genomes[i]))
    for rank, e in enumerate(state.hof.best[:2]):
        if e.key not in seen:
            seen.add(e.key)
            out.append((f"best-ever{rank + 1}", representation.from_json(e.genome)))
    return out


def test_and_report(outcomes: list[Outcome], data: dict[str, SpaceData],
                    progress: bool = True) -> list[dict]:
    """Test every outcome's candidates on the held-out networks, in one streamed pass per
    space for all outcomes (they share the data split and collection settings), then write
    each run's results.json, test_scores.csv and plots.

    After each block of networks every run directory saves the test so far
    (``test_progress.json``); a test killed midway continues from there and gives the results
    of an uninterrupted one."""
    t0 = time.perf_counter()
    cfg0 = outcomes[0].cfg
    keys = ("batch_size", "order", "stats_seed", "to_scalar", "aggregate", "data_seed",
            "evolution_nets", "test_nets")
    crosses = {o.cfg.cross_batch for o in outcomes} - {0}
    if len(crosses) > 1:
        raise GpnasError("runs tested together must share their cross-sample batch size")
    cross_batch = max(crosses, default=0)  # one collection pass serves every run
    if any(getattr(o.cfg, k) != getattr(cfg0, k) for o in outcomes for k in keys):
        raise GpnasError(f"runs tested together must share {', '.join(keys)}")
    pset = full_primitive_set()
    cands = [candidates(o.cfg, o.state, o.representation) for o in outcomes]
    programs = [o.representation.lower(g) for o, cs in zip(outcomes, cands) for _, g in cs]
    spaces = sorted({sp for o in outcomes for sp in o.cfg.spaces})
    runner = heldout_runner(cfg0.ray_address) if cfg0.executor == "ray" else None
    slices = _slices(cands)
    saved = [o.rundir.test_progress() for o in outcomes]
    tested_all = {}
    for sp in spaces:
        d = data[sp]
        if not len(d.test):
            continue
        archs = [d.bench.archs[i] for i in d.test]
        archs_sha = digest([archs, cross_batch] + [getattr(cfg0, k) for k in keys])

        def on_block(n, scores, invalid, sp=sp, archs_sha=archs_sha):
            for o, (a, b), prog in zip(outcomes, slices, saved):
                prog[sp] = {"archs_sha256": archs_sha, "keys": [p.key for p in programs[a:b]],
                            "done": n, "scores": [s.tolist() for s in scores[a:b]],
                            "invalid": invalid[a:b]}
                o.rundir.save_test_progress(prog)

        tested_all[sp] = score_heldout(
            programs, sp, archs, d.bench.accuracy[d.test],
            Engine(pset, EngineConfig.of(cfg0)), batch_size=cfg0.batch_size,
            seed=cfg0.stats_seed, order=cfg0.order, progress=progress,
            cross_batch=cross_batch,
            done=_done(saved, slices, programs, sp, archs_sha, len(archs)), on_block=on_block,
            runner=runner)
    seconds = time.perf_counter() - t0
    out, offset = [], 0
    for o, cs in zip(outcomes, cands):
        tested = {sp: res[offset: offset + len(cs)] for sp, res in tested_all.items()
                  if sp in o.cfg.spaces}
        offset += len(cs)
        out.append(_report(o, cs, tested, data, seconds))
    return out


def _slices(cands) -> list[tuple[int, int]]:
    """Each outcome's range in the list of all programs tested."""
    out, a = [], 0
    for cs in cands:
        out.append((a, a + len(cs)))
        a += len(cs)
    return out


def _done(saved, slices, programs, space, archs_sha, n_archs):
    """The part of the test of ``space`` that every run saved, as ``score_heldout``'s ``done``
    (None: start from the first network): the same programs on the same networks, in whole
    blocks."""
    n, scores, invalid = n_archs, [], []
    for prog, (a, b) in zip(saved, slices):
        p = prog.get(space)
        if (p is None or p["archs_sha256"] != archs_sha or p["done"] > n_archs
                or p["keys"] != [q.key for q in programs[a:b]]):
            return None
        n = min(n, p["done"])
        scores += p["scores"]
        invalid += p["invalid"]
    if n == 0 or (n % HELDOUT_BLOCK and n != n_archs):
        return None
    return n, [s[:n] for s in scores], invalid


def _report(o: Outcome, cands, tested, data, test_seconds: float) -> dict:
    rep, rundir = o.representation, o.rundir
    rows = []
    for ci, (label, g) in enumerate(cands):
        p = rep.lower(g)
        entry = {"label": label, "program": rep.text(g), "key": p.key, "genome": rep.to_json(g),
                 "ir": p.to_json(), "size": rep.size(g), "test": {}}
        for sp, res in tested.items():
            entry["test"][sp] = {k: v for k, v in res[ci].items() if k != "scores"}
        rows.append(entry)
    results = {
        "config": o.cfg.to_dict(),
        "generations": o.state.generation,
        "search_seconds": o.state.elapsed,
        "test_seconds": test_seconds,
        "candidates": rows,
        "pareto": o.state.hof.to_json()["pareto"],
        "test_nets": {sp: int(len(data[sp].test)) for sp in o.cfg.spaces},
    }
    rundir.write("results.json", json.dumps(results, indent=2))
    _write_test_scores(rundir, cands, tested, data)
    rundir.write("fitness.png", fitness_curve(rundir.log()))
    if rows and tested:
        per_space = {sp: (res[0]["scores"], data[sp].bench.accuracy[data[sp].test],
                          res[0]["kendall"]) for sp, res in tested.items()
                     if res[0]["scores"] is not None}
        if per_space:
            rundir.write("scatter.png", score_scatter(per_space, rows[0]["program"]))
    return results


def _write_test_scores(rundir: RunDir, cands, tested, data) -> None:
    lines = ["space,arch,accuracy," + ",".join(label for label, _ in cands)]
    for sp, res in tested.items():
        d = data[sp]
        for j, i in enumerate(d.test):
            vals = [("" if r["scores"] is None else f"{r['scores'][j]:.9g}") for r in res]
            lines.append(f"{sp},\"{d.bench.archs[i]}\",{d.bench.accuracy[i]:.4f}," + ",".join(vals))
    rundir.write("test_scores.csv", "\n".join(lines) + "\n")
