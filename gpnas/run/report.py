"""The end of a run: its candidates tested on held-out networks, results.json, test scores and
plots."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from primitives import full_primitive_set

from gpnas.config import RunConfig
from gpnas.baselines.dsl import DSL_PROXIES, dsl_program
from gpnas.baselines.evaluate import rank_correlations, score_networks
from gpnas.evaluation.engine import Engine, EngineConfig, InvalidProgram
from gpnas.evaluation.ensemble import cv_ensemble_size, greedy_ensemble, rank_ensemble
from gpnas.evaluation.fitness import ACROSS_SPACES, kendall
from gpnas.evaluation.heldout import HELDOUT_BLOCK, score_heldout
from gpnas.evaluation.task import Task
from gpnas.evaluation.ray_backend import heldout_runner
from gpnas.errors import GpnasError
from gpnas.run.evolve import Outcome
from gpnas.run.plots import fitness_curve, score_scatter
from gpnas.run.prepare import SpaceData
from gpnas.run.rundir import RunDir, digest
from gpnas.search.loop import State
from gpnas.search.selection import top_k
from gpnas.threads import available_cores


@dataclass
class Validation:
    """What the validation networks chose: the pick (a genome, or None), every scored program's
    Kendall tau per space (key -> space -> tau), the ensemble's members (genomes) and tau per
    space (no members: no ensemble), and the cross-validated score of each ensemble size (its
    mean and standard error) that chose how many members it has (empty: not cross-validated)."""

    pick: object | None = None
    taus: dict[str, dict] = field(default_factory=dict)
    members: list = field(default_factory=list)
    ensemble_taus: dict[str, float] = field(default_factory=dict)
    size_scores: list[float] = field(default_factory=list)
    size_errors: list[float] = field(default_factory=list)


def validate(o: Outcome, data: dict[str, SpaceData], pool_size: int = 10) -> Validation:
    """Score programs of the run on its validation networks (never test data).  The pick is,
    among the best ever seen (hall of fame) and the last generation's ``pool_size`` fittest,
    the one whose taus combined over the spaces (``across_spaces``) are best; the ensemble's
    members (``cfg.ensemble`` at most, as many as cross-validation on the validation networks
    finds best with ``cfg.ensemble_folds``) are chosen greedily among those, the hall of fame's
    Pareto front and the whole last generation."""
    cfg, rep = o.cfg, o.representation
    if not cfg.validation_nets:
        return Validation()
    across = ACROSS_SPACES[cfg.across_spaces]
    picks = {e.key: rep.from_json(e.genome) for e in o.state.hof.best}
    last = sorted((pair for pair in o.state.last if pair[1].fitness is not None),
                  key=lambda pair: -pair[1].selection_key())
    for g, _ in last[:pool_size]:
        picks.setdefault(rep.lower(g).key, g)
    pool = dict(picks)
    if cfg.ensemble:
        for g in [rep.from_json(e.genome) for e in o.state.hof.pareto] + [g for g, _ in last]:
            pool.setdefault(rep.lower(g).key, g)
    engine = Engine(full_primitive_set(), EngineConfig.of(cfg))
    tasks = {sp: Task.from_store(data[sp].store, data[sp].validation_ids, lazy=True)
             for sp in cfg.spaces}
    scores: dict[str, dict] = {}
    taus: dict[str, dict] = {}
    for key, g in pool.items():
        per, tau = {}, {}
        for sp, task in tasks.items():
            try:
                per[sp] = engine.net_scores(rep.lower(g), task)
                tau[sp] = kendall(per[sp], task.accuracy)
            except InvalidProgram:
                break
        else:
            scores[key], taus[key] = per, tau
    out = Validation(taus=taus)
    valid = [k for k in picks if k in taus]
    if valid:
        best = max(valid, key=lambda k: (across(taus[k]), -rep.size(picks[k])))
        out.pick = picks[best]
    if cfg.ensemble and scores:
        accuracy, size = {sp: t.accuracy for sp, t in tasks.items()}, cfg.ensemble
        if cfg.ensemble_folds:
            size, out.size_scores, out.size_errors = cv_ensemble_size(
                scores, accuracy, size, across, cfg.ensemble_folds, cfg.ensemble_rng())
        keys, out.ensemble_taus = greedy_ensemble(scores, accuracy, size, across)
        out.members = [pool[k] for k in keys]
    return out


def candidates(cfg: RunConfig, state: State, representation, picked=None, members=()
               ) -> list[tuple[str, object]]:
    """The validation pick (when the run has validation networks), the final top-3
    (Algorithm 1), the two best programs ever seen and the ensemble's members, without
    repeats."""
    genomes = [g for g, _ in state.last]
    fits = [e.selection_key() for _, e in state.last]
    sizes = [representation.size(g) for g in genomes]
    out, seen = [], set()
    if picked is not None:
        seen.add(representation.lower(picked).key)
        out.append(("validation-best", picked))
    for rank, i in enumerate(top_k(fits, sizes, 3, cfg.bloat == "parsimony")):
        if fits[i] is not None and representation.lower(genomes[i]).key not in seen:
            seen.add(representation.lower(genomes[i]).key)
            out.append((f"final-top{rank + 1}", genomes[i]))
    for rank, e in enumerate(state.hof.best[:2]):
        if e.key not in seen:
            seen.add(e.key)
            out.append((f"best-ever{rank + 1}", representation.from_json(e.genome)))
    for rank, g in enumerate(members):
        key = representation.lower(g).key
        if key not in seen:
            seen.add(key)
            out.append((f"ensemble-member{rank + 1}", g))
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
    checks = [validate(o, data) for o in outcomes]
    cands = [candidates(o.cfg, o.state, o.representation, v.pick, v.members)
             for o, v in zip(outcomes, checks)]
    programs = [o.representation.lower(g) for o, cs in zip(outcomes, cands) for _, g in cs]
    names = list(dict.fromkeys(n for o in outcomes for n in o.cfg.references))
    in_dsl = [n for n in names if n in DSL_PROXIES and cross_batch]
    spaces = sorted({sp for o in outcomes for sp in o.cfg.spaces})
    tested = programs + [dsl_program(n) for n in in_dsl]  # the DSL references ride along
    shares = _shares(cands, len(in_dsl))
    runner = heldout_runner(cfg0.ray_address) if cfg0.executor == "ray" else None
    saved = [o.rundir.test_progress() for o in outcomes]
    tested_all, references = {}, {}
    for sp in spaces:
        d = data[sp]
        if not len(d.test):
            continue
        archs, acc = [d.bench.archs[i] for i in d.test], d.bench.accuracy[d.test]
        archs_sha = digest([archs, cross_batch] + [getattr(cfg0, k) for k in keys])

        def on_block(n, scores, invalid, sp=sp, archs_sha=archs_sha):
            for o, share, prog in zip(outcomes, shares, saved):
                prog[sp] = {"archs_sha256": archs_sha, "keys": [tested[j].key for j in share],
                            "done": n, "scores": [scores[j].tolist() for j in share],
                            "invalid": [invalid[j] for j in share]}
                o.rundir.save_test_progress(prog)

        res = score_heldout(
            tested, sp, archs, acc, Engine(pset, EngineConfig.of(cfg0)),
            batch_size=cfg0.batch_size, seed=cfg0.stats_seed, order=cfg0.order,
            progress=progress, cross_batch=cross_batch,
            done=_done(saved, shares, tested, sp, archs_sha, len(archs)), on_block=on_block,
            runner=runner)
        tested_all[sp] = res[:len(programs)]
        references[sp] = dict(zip(in_dsl, res[len(programs):]))
        references[sp].update(_baseline_references(
            sp, archs, acc, [n for n in names if n not in in_dsl], cfg0.stats_seed, progress))
    seconds = time.perf_counter() - t0
    out, offset = [], 0
    for o, cs, val in zip(outcomes, cands, checks):
        tested = {sp: res[offset: offset + len(cs)] for sp, res in tested_all.items()
                  if sp in o.cfg.spaces}
        refs = {n: {sp: {k: v for k, v in references[sp][n].items() if k != "scores"}
                    for sp in o.cfg.spaces if sp in references}
                for n in o.cfg.references}
        offset += len(cs)
        out.append(_report(o, cs, tested, data, seconds, val, refs))
    return out


def _baseline_references(space, archs, accuracy, names, seed, progress) -> dict[str, dict]:
    """Hand-written baselines of the held-out networks (the same networks and initialisation
    as the statistics), as test rows: kendall, spearman, n, invalid."""
    if not names:
        return {}
    metric = {"jacov": "jacob_cov"}  # the baseline of a DSL proxy's name
    scores = score_networks(space, archs, [metric.get(n, n) for n in names], seed=seed,
                            progress=progress, label=f"references on {len(archs)} {space} nets",
                            jobs=available_cores())
    out = {}
    for n in names:
        row = rank_correlations(scores[metric.get(n, n)], accuracy)
        out[n] = {**row, "invalid": None if row["kendall"] is not None else "constant"}
    return out


def _shares(cands, n_references: int) -> list[list[int]]:
    """Each outcome's part of the programs tested (its candidates, then the references that
    follow all candidates): what its test progress saves."""
    out, a = [], 0
    total = sum(len(cs) for cs in cands)
    for cs in cands:
        out.append(list(range(a, a + len(cs))) + list(range(total, total + n_references)))
        a += len(cs)
    return out


def _done(saved, shares, programs, space, archs_sha, n_archs):
    """The part of the test of ``space`` that every run saved, as ``score_heldout``'s ``done``
    (None: start from the first network): the same programs on the same networks, in whole
    blocks."""
    n = n_archs
    scores: list = [None] * len(programs)
    invalid: list = [None] * len(programs)
    for prog, share in zip(saved, shares):
        p = prog.get(space)
        if (p is None or p["archs_sha256"] != archs_sha or p["done"] > n_archs
                or p["keys"] != [programs[j].key for j in share]):
            return None
        n = min(n, p["done"])
        for j, s, bad in zip(share, p["scores"], p["invalid"]):
            scores[j], invalid[j] = s, bad
    if n == 0 or (n % HELDOUT_BLOCK and n != n_archs) or any(s is None for s in scores):
        return None
    return n, [s[:n] for s in scores], invalid


def _ensemble(o: Outcome, cands, tested, data, validation: Validation) -> dict | None:
    """The validation ensemble's row of results.json: its members (candidates of the run), its
    validation taus and its test correlations, its test scores being the members' log ranks
    among the test networks, summed (``scores`` per space, for test_scores.csv)."""
    if not validation.members:
        return None
    rep = o.representation
    keys = [rep.lower(g).key for g in validation.members]
    cand_keys = [rep.lower(g).key for _, g in cands]
    at = [cand_keys.index(k) for k in keys]
    row = {"label": "validation-ensemble",
           "program": " + ".join(f"logrank({rep.text(g)})" for g in validation.members),
           "members": [cands[i][0] for i in at], "keys": keys,
           "validation": validation.ensemble_taus, "test": {}}
    if validation.size_scores:
        row["size_scores"] = validation.size_scores
        row["size_errors"] = validation.size_errors
    for sp, res in tested.items():
        invalid = "; ".join(res[i]["invalid"] for i in at if res[i]["invalid"]) or None
        if any(res[i]["scores"] is None for i in at):
            row["test"][sp] = {"n": len(data[sp].test), "kendall": None, "spearman": None,
                               "invalid": invalid, "scores": None}
            continue
        scores = rank_ensemble([res[i]["scores"] for i in at])
        accuracy = data[sp].bench.accuracy[data[sp].test]
        row["test"][sp] = {**rank_correlations(scores, accuracy), "invalid": invalid,
                           "scores": scores}
    return row


def _report(o: Outcome, cands, tested, data, test_seconds: float, validation: Validation,
            references: dict) -> dict:
    rep, rundir = o.representation, o.rundir
    rows = []
    for ci, (label, g) in enumerate(cands):
        p = rep.lower(g)
        entry = {"label": label, "program": rep.text(g), "key": p.key, "genome": rep.to_json(g),
                 "ir": p.to_json(), "size": rep.size(g), "test": {},
                 "validation": validation.taus.get(p.key)}
        for sp, res in tested.items():
            entry["test"][sp] = {k: v for k, v in res[ci].items() if k != "scores"}
        rows.append(entry)
    ensemble = _ensemble(o, cands, tested, data, validation)
    results = {
        "config": o.cfg.to_dict(),
        "generations": o.state.generation,
        "search_seconds": o.state.elapsed,
        "test_seconds": test_seconds,
        "candidates": rows,
        "references": references,
        "ensemble": ensemble and {**ensemble, "test": {
            sp: {k: v for k, v in t.items() if k != "scores"}
            for sp, t in ensemble["test"].items()}},
        "pareto": o.state.hof.to_json()["pareto"],
        "test_nets": {sp: int(len(data[sp].test)) for sp in o.cfg.spaces},
    }
    rundir.write("results.json", json.dumps(results, indent=2))
    _write_test_scores(rundir, cands, tested, data, ensemble)
    rundir.write("fitness.png", fitness_curve(rundir.log()))
    if rows and tested:
        per_space = {sp: (res[0]["scores"], data[sp].bench.accuracy[data[sp].test],
                          res[0]["kendall"]) for sp, res in tested.items()
                     if res[0]["scores"] is not None}
        if per_space:
            rundir.write("scatter.png", score_scatter(per_space, rows[0]["program"]))
    return results


def _write_test_scores(rundir: RunDir, cands, tested, data, ensemble: dict | None) -> None:
    labels = [label for label, _ in cands]
    if ensemble:
        labels.append(ensemble["label"])
        tested = {sp: res + [ensemble["test"][sp]] for sp, res in tested.items()}
    lines = ["space,arch,accuracy," + ",".join(labels)]
    for sp, res in tested.items():
        d = data[sp]
        for j, i in enumerate(d.test):
            vals = [("" if r["scores"] is None else f"{r['scores'][j]:.9g}") for r in res]
            lines.append(f"{sp},\"{d.bench.archs[i]}\",{d.bench.accuracy[i]:.4f}," + ",".join(vals))
    rundir.write("test_scores.csv", "\n".join(lines) + "\n")
