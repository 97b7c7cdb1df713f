"""Two budgets of the memory law ``r^2 d + L``: the law's own, and the real stage-1 data's.

**The law's budget** (:func:`run_law_budget`). The fair test (:mod:`mgdd.theory.fair`) measured the *smallest*
memory of our two-stage algorithm under our criterion; that it falls with d and r says that our algorithm can do
with less than the law, which does not contradict a law on what memory suffices. The theorem's direction is
tested here: one constant C is calibrated at the cell with the smallest ``r^2 d + L`` (the smallest C of
:data:`C_LADDER` for which every teacher there passes), then every cell gets exactly ``C (r^2 d + L)`` floats,
split as the law's terms split it: ``C r^2 d`` to stage A (M1 points of d + 1 floats), ``C L`` to stage B (M2
points of k + 1 floats). A teacher passes when the fair test's criterion holds at that memory: stage A within
the absolute target, and the fully distilled pipeline within ``tolerance`` of its stage A followed by the real
stage-2 data. The law is supported where the pass rate holds across the cells, and refuted where it falls as
the law's budget grows (memory would have to grow faster than the law).

**Headroom** (:func:`run_law_headroom`): where a cell falls, whether re-splitting the same total, or more
memory, mends it, or nothing does (then our stage-A distillation fails there, whatever the memory).

**The real budget** (:func:`run_n1_sweep`). At one (d, r, L), the smallest memory (the fair test's search) for
several numbers n1 of real stage-1 points: how M1 follows n1 with d, r and L fixed, and so how much of the fair
test's d, r and L slopes of M1 the calibrated n1 explains.

Both are resumable per (cell, teacher) (``out/partial-law.json``, ``out/partial-n1.json``) and reuse the fair
test's calibrated n1 per cell; ``out/budgets.md`` renders whatever has run.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ..io import write_json_atomic, write_text_atomic
from .fair import FAIR_CONFIG, bootstrap_slope, format_interval
from .study import (
    Problem, StudyConfig, average_over_teachers, calibrate_stage1_size, calibration_fields, distilled_mse, fit_slope,
    minimal_memory, sibling_results, smallest_passing, stage2_dim, sweeps,
)

# the fair test's config with five teachers per cell and d up to 256 (the law's largest term)
LAW_CONFIG = dataclasses.replace(FAIR_CONFIG, teachers=5, d_values=(32, 48, 64, 96, 128, 256))
C_LADDER = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0)
N1_CELL = (64, 2, 512)
N1_SIZES = (20480, 40960, 81920)
WILSON_Z = 1.96
# the headroom of failing cells: teachers probed per cell, multiples of C tried in turn, stage A's re-split share
HEADROOM_TEACHERS = 2
HEADROOM_MULTIPLES = (2.0, 4.0)
RESPLIT_FACTOR = 2.0


def law_floats(d: int, r: int, width: int) -> int:
    """The law's memory without its constant: ``r^2 d + L``."""
    return r * r * d + width


def law_allocation(c: float, d: int, r: int, width: int, full_space: bool = False,
                   stage_a_factor: float = 1.0) -> dict[str, int]:
    """Points per stage for the budget ``c (r^2 d + L)``, split as the law's terms: ``c r^2 d`` floats to stage A
    (d + 1 per point), ``c L`` to stage B (k + 1 per point, k as :func:`~mgdd.theory.study.stage2_dim`); at least
    one point each. ``stage_a_factor`` re-splits the same total: stage A gets that many times its points and
    stage B what is left (a ValueError where nothing is). ``memory`` is what they store."""
    m1 = max(1, round(stage_a_factor * max(1, round(c * r * r * d / (d + 1)))))  # the law's share, re-split
    coordinates = stage2_dim(d, r, m1, full_space) or d
    if stage_a_factor == 1.0:
        m2 = max(1, round(c * width / (coordinates + 1)))
    else:
        m2 = math.floor((c * law_floats(d, r, width) - m1 * (d + 1)) / (coordinates + 1))
        if m2 < 1:
            raise ValueError(f"stage A at {stage_a_factor}x its share leaves no stage-B point within "
                             f"{c} x {law_floats(d, r, width)} floats at d={d}, r={r}, L={width}")
    return {"m1": m1, "m2": m2, "memory": m1 * (d + 1) + m2 * (coordinates + 1)}


def budget_trial(problem: Problem, c: float, config: StudyConfig, stage_a_factor: float = 1.0) -> dict[str, Any]:
    """One teacher at the law's budget ``c (r^2 d + L)``: both stages distilled at their share (see
    :func:`law_allocation`), the criterion checked, and the test MSE against the full-data student's."""
    points = law_allocation(c, problem.d, problem.r, problem.width, config.stage2_full_space, stage_a_factor)
    stage1 = problem.distilled_stage1(points["m1"], config.steps)
    mse_a = problem.mse(stage1, problem.stage2)
    mse, data = distilled_mse(problem, stage1, points["m2"], config)
    passes_a = mse_a <= config.stage_a_target(problem.full_mse)
    passes_b = mse <= config.tolerance * mse_a
    return {**points, "c": c, "memory": data.memory, "law_floats": law_floats(problem.d, problem.r, problem.width),
            "full_mse": problem.full_mse, "mse_a": mse_a, "mse": mse, "mse_ratio": mse / problem.full_mse,
            "passes_a": passes_a, "passes_b": passes_b, "passes": passes_a and passes_b, "stage_a_factor": stage_a_factor}


def wilson_interval(passed: int, total: int, z: float = WILSON_Z) -> tuple[float, float]:
    """95 % Wilson score interval of a pass rate (sound at 0 / n and n / n, unlike the normal one)."""
    if total == 0:
        return 0.0, 1.0
    rate = passed / total
    centre = (rate + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(rate * (1 - rate) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return max(0.0, centre - half), min(1.0, centre + half)


class _Partial:
    """A resumable JSON record of finished trials, keyed by text, under one config (another starts afresh)."""

    def __init__(self, path: Path, config: dict[str, Any]) -> None:
        self.path = path
        saved = json.loads(path.read_text()) if path.exists() else {}
        self.data = saved if saved.get("config") == config else {"config": config, "found": {}}

    def get(self, key: str) -> Any:
        return self.data["found"].get(key)

    def put(self, key: str, value: Any) -> Any:
        self.data["found"][key] = value
        write_json_atomic(self.path, self.data)
        return value


def _stage1_sizes(out: Path, config: StudyConfig) -> dict[str, int]:
    """Calibrated n1 per cell found by earlier runs in ``out`` (the fair test's partial files) under the same
    calibration settings."""
    sizes: dict[str, int] = {}
    wanted = calibration_fields(config)
    for path in sorted(out.glob("partial*.json")):
        saved = json.loads(path.read_text())
        if all(saved.get("config", {}).get(k) == v for k, v in wanted.items()):
            sizes.update(saved.get("stage1_sizes", {}))
    return sizes


def law_cells(config: StudyConfig) -> list[tuple[int, int, int]]:
    """Every cell of the d, r and L sweeps, smallest law budget first."""
    cells = {cell for cells in sweeps(config).values() for cell in cells}
    return sorted(cells, key=lambda cell: (law_floats(*cell), cell))


class _LawTrials:
    """Trials of the law's budget in ``out``, resumable per (cell, teacher, C, stage-A factor): the problems of one
    cell at a time, and each cell's calibrated n1."""

    def __init__(self, out: Path, config: StudyConfig) -> None:
        self.config = config
        self.partial = _Partial(out / "partial-law.json", json.loads(json.dumps(dataclasses.asdict(config))))
        self.sizes = {**_stage1_sizes(out, config), **self.partial.data.setdefault("stage1_sizes", {})}
        self.problems: dict[tuple, Problem] = {}

    def problem(self, cell: tuple[int, int, int], teacher: int) -> Problem:
        if str(cell) not in self.sizes:
            self.sizes[str(cell)] = calibrate_stage1_size(*cell, self.config)
        self.partial.data["stage1_sizes"][str(cell)] = self.sizes[str(cell)]
        if (cell, teacher) not in self.problems:
            if any(other != cell for other, _ in self.problems):
                self.problems.clear()  # one cell's problems at a time: the large cells hold hundreds of MB
            self.problems[cell, teacher] = Problem.create(*cell, self.config, teacher, self.sizes[str(cell)])
        return self.problems[cell, teacher]

    @staticmethod
    def key(cell: tuple[int, int, int], teacher: int, c: float, stage_a_factor: float = 1.0) -> str:
        return f"{cell}/{teacher}/C={c}" + ("" if stage_a_factor == 1.0 else f"/A x{stage_a_factor:g}")

    def get(self, cell: tuple[int, int, int], teacher: int, c: float, stage_a_factor: float = 1.0) -> dict | None:
        return self.partial.get(self.key(cell, teacher, c, stage_a_factor))

    def __call__(self, cell: tuple[int, int, int], teacher: int, c: float,
                 stage_a_factor: float = 1.0) -> dict[str, Any]:
        key = self.key(cell, teacher, c, stage_a_factor)
        if self.partial.get(key) is None:
            began = time.perf_counter()
            found = budget_trial(self.problem(cell, teacher), c, self.config, stage_a_factor)
            self.partial.put(key, {**found, "stage1_size": self.sizes[str(cell)],
                                   "seconds": time.perf_counter() - began})
        return self.partial.get(key)

    def seconds_total(self, keys: list[str]) -> float:
        """Seconds of the trials among ``keys`` that have run (the law's, or the headroom's: they share a file)."""
        return round(sum(found["seconds"] for key in keys if (found := self.partial.get(key)) is not None), 1)


def run_law_budget(out: str | Path, config: StudyConfig = LAW_CONFIG, progress: bool = True,
                   run: dict | None = None) -> dict[str, Any]:
    """Calibrate C at the smallest cell, give every cell ``C (r^2 d + L)`` floats, and record each teacher's
    trial into ``out/law-budget.json`` (then ``out/budgets.md``). Resumable per (cell, teacher, C)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    trial = _LawTrials(out, config)
    cells = law_cells(config)
    calibration_cell = cells[0]
    bar = tqdm(desc="law budget: calibrating C", disable=not progress, total=None)

    def all_pass(c: float) -> tuple[bool, None]:
        passes = all(trial(calibration_cell, t, c)["passes"] for t in range(config.teachers))  # stops at a fail
        bar.update(1)
        return passes, None

    hit = smallest_passing(C_LADDER, all_pass, "gallop")
    bar.close()
    if hit is None:
        raise RuntimeError(f"no C up to {C_LADDER[-1]} passes every teacher at {calibration_cell}; extend C_LADDER")
    c = hit[0]
    todo = [(cell, t) for cell in cells for t in range(config.teachers)]
    for cell, teacher in tqdm(todo, desc=f"law budget at C = {c}", disable=not progress):
        trial(cell, teacher, c)
    results = {"c": c, "calibration_cell": list(calibration_cell), "c_ladder": list(C_LADDER),
               # C -> the passes of the teachers tried there (a probe stops at its first failing teacher)
               "calibration": {str(k): [found["passes"] for t in range(config.teachers)
                                        if (found := trial.get(calibration_cell, t, k)) is not None]
                               for k in C_LADDER if trial.get(calibration_cell, 0, k) is not None},
               "cells": [law_cell_summary(cell, [trial(cell, t, c) for t in range(config.teachers)]) for cell in cells],
               "config": dataclasses.asdict(config), "run": run or {},
               "seconds_this_call": round(time.perf_counter() - started, 1),
               "seconds_total": trial.seconds_total(
                   [trial.key(calibration_cell, t, k) for k in C_LADDER for t in range(config.teachers)]
                   + [trial.key(cell, t, c) for cell, t in todo if cell != calibration_cell])}
    results["verdicts"] = law_verdicts(results["cells"], calibration_cell, config)
    write_json_atomic(out / "law-budget.json", results)
    render_budgets(out)
    return results


def run_law_headroom(out: str | Path, config: StudyConfig = LAW_CONFIG, teachers: int = HEADROOM_TEACHERS,
                     multiples: tuple[float, ...] = HEADROOM_MULTIPLES, progress: bool = True,
                     run: dict | None = None, compute: bool = True) -> dict[str, Any]:
    """What the failures of the law's budget (``law-budget.json``) are made of. At each cell that falls (its
    pass-rate interval wholly below the calibration cell's), for its first ``teachers`` failing teachers: the same
    total re-split, stage A given twice its points (where stage B keeps a point), then the budget at each of
    ``multiples`` x C, split as the law's terms, up to the first that passes. A failure that the re-split
    mends is the split's, not the law's; one that more memory mends says that memory must grow faster there (for
    our algorithm); one that even the largest multiple leaves says that our stage-A distillation fails there
    whatever the memory, and the cell says nothing about the law. Into ``out/law-headroom.json`` after every
    probe, resumable; ``compute=False`` computes nothing and reports the probes that have run (the others as
    ``pending``)."""
    out = Path(out)
    law_path = out / "law-budget.json"
    if not law_path.exists():
        raise FileNotFoundError(f"{law_path} is missing: run the law's budget first (--part law)")
    law = json.loads(law_path.read_text())
    trial = _LawTrials(out, config)
    calibration = next(c for c in law["cells"] if [c["d"], c["r"], c["width"]] == law["calibration_cell"])
    falling = [c for c in law["cells"] if c["pass_high"] < calibration["pass_low"]]
    todo = []
    for summary in falling:
        cell = (summary["d"], summary["r"], summary["width"])
        failed = [t for t in range(config.teachers) if not trial.get(cell, t, law["c"])["passes"]]
        todo += [(cell, t) for t in failed[:teachers]]
    results = {"c": law["c"], "multiples": list(multiples), "resplit_factor": RESPLIT_FACTOR, "rows": [],
               "run": run or {}}
    probed: list[str] = []
    for cell, teacher in tqdm(todo, desc="law budget: headroom", disable=not progress):
        row = {"d": cell[0], "r": cell[1], "width": cell[2], "teacher": teacher,
               "at_c": trial.get(cell, teacher, law["c"]), "probes": [], "pending": []}
        results["rows"].append(row)
        for factor, c in _headroom_probes(law["c"], cell, config, multiples):
            probed.append(trial.key(cell, teacher, c, factor))
            found = trial(cell, teacher, c, factor) if compute else trial.get(cell, teacher, c, factor)
            if found is None:
                row["pending"].append(f"{c / law['c']:g} C" + ("" if factor == 1.0 else f", stage A x{factor:g}"))
                continue
            row["probes"].append(found)
            results["seconds_total"] = trial.seconds_total(probed)
            write_json_atomic(out / "law-headroom.json", results)
            if found["passes"] and factor == 1.0:
                break
    results["seconds_total"] = trial.seconds_total(probed)
    write_json_atomic(out / "law-headroom.json", results)
    render_budgets(out)
    return results


def _headroom_probes(c: float, cell: tuple[int, int, int], config: StudyConfig,
                     multiples: tuple[float, ...]) -> list[tuple[float, float]]:
    """(stage-A factor, C) of each headroom probe in order: the re-split of the same total where stage B keeps a
    point, then each multiple of C split as the law's terms."""
    probes = []
    try:
        law_allocation(c, *cell, config.stage2_full_space, RESPLIT_FACTOR)
        probes.append((RESPLIT_FACTOR, c))
    except ValueError:
        pass  # the cell's stage B cannot give stage A that much
    return probes + [(1.0, c * multiple) for multiple in multiples]


def law_cell_summary(cell: tuple[int, int, int], trials: list[dict[str, Any]]) -> dict[str, Any]:
    """One cell at the law's budget: its pass rate with the Wilson interval, and the MSE ratios."""
    passed = sum(t["passes"] for t in trials)
    low, high = wilson_interval(passed, len(trials))
    ratios = [t["mse_ratio"] for t in trials]
    return {"d": cell[0], "r": cell[1], "width": cell[2], "law_floats": law_floats(*cell),
            "memory": trials[0]["memory"], "m1": trials[0]["m1"], "m2": trials[0]["m2"],
            "stage1_size": trials[0]["stage1_size"], "passed": passed, "teachers": len(trials),
            "passed_a": sum(t["passes_a"] for t in trials), "pass_low": low, "pass_high": high,
            "mse_ratio": math.exp(sum(math.log(v) for v in ratios) / len(ratios)),
            "mse_ratio_range": [min(ratios), max(ratios)]}


def law_verdicts(cells: list[dict[str, Any]], calibration_cell: tuple[int, int, int],
                 config: StudyConfig) -> dict[str, str]:
    """Per sweep: ``holds`` where every cell's pass-rate interval overlaps the calibration cell's; ``falls as the
    budget grows`` where a cell with a larger law budget than the sweep's smallest has an interval wholly below
    it (memory must grow faster than the law there: the law is refuted); ``falls at the small end`` where only
    cells with the sweep's smaller budgets fall (the law's budget is too small there, not too slow); else
    ``holds``."""
    by_cell = {(c["d"], c["r"], c["width"]): c for c in cells}
    reference = by_cell[calibration_cell]
    verdicts = {}
    for name, sweep in sweeps(config).items():
        ordered = sorted(sweep, key=lambda cell: law_floats(*cell))
        below = [cell for cell in ordered if by_cell[cell]["pass_high"] < reference["pass_low"]]
        if not below:
            verdicts[name] = "holds"
        elif any(law_floats(*cell) > law_floats(*ordered[0]) and
                 any(by_cell[other]["pass_high"] >= reference["pass_low"]
                     for other in ordered if law_floats(*other) < law_floats(*cell)) for cell in below):
            verdicts[name] = "falls as the budget grows: refuted"
        else:
            verdicts[name] = "falls at the small end"
    return verdicts


def run_n1_sweep(out: str | Path, cell: tuple[int, int, int] = N1_CELL, sizes: tuple[int, ...] = N1_SIZES,
                 config: StudyConfig = FAIR_CONFIG, progress: bool = True, run: dict | None = None) -> dict[str, Any]:
    """The fair test's smallest-memory search at ``cell`` for each number of real stage-1 points in ``sizes``
    (its teachers), into ``out/n1-sweep.json`` (then ``out/budgets.md``). Resumable per (n1, teacher)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    normalised = json.loads(json.dumps(dataclasses.asdict(config)))
    partial = _Partial(out / "partial-n1.json", normalised)
    # the fair test's own searches at this cell and its calibrated n1 are the same computation
    fair_found = sibling_results(out, "partial-n1.json", normalised)
    todo = [(n1, t) for n1 in sizes for t in range(config.teachers)]
    for n1, teacher in tqdm(todo, desc=f"n1 sweep at {cell}", disable=not progress):
        key = f"{n1}/{teacher}"
        if partial.get(key) is None:
            fair = fair_found.get(f"{cell}/{teacher}")
            if fair is not None and fair.get("stage1_size") == n1:
                partial.put(key, fair)
                continue
            began = time.perf_counter()
            found = minimal_memory(Problem.create(*cell, config, teacher, n1), config)
            partial.put(key, {**found, "stage1_size": n1, "seconds": time.perf_counter() - began})
    rows = [{**average_over_teachers([partial.get(f"{n1}/{t}") for t in range(config.teachers)]), "stage1_size": n1}
            for n1 in sizes]
    fit = bootstrap_slope(list(sizes), [[t.get("m1") for t in row.get("per_teacher", [row])] for row in rows],
                          seed=config.seed)
    results = {"cell": list(cell), "rows": rows, "m1_vs_n1": fit, "config": dataclasses.asdict(config),
               "run": run or {}, "seconds_this_call": round(time.perf_counter() - started, 1)}
    write_json_atomic(out / "n1-sweep.json", results)
    render_budgets(out)
    return results


def n1_explains(out: Path, fit: dict[str, Any]) -> list[dict[str, Any]]:
    """For each sweep of the fair test that has run: the log-log slope of the calibrated n1 on the swept size,
    the M1 slope that n1 alone predicts (M1's slope on n1, ``fit``, times it; its interval times it), the M1 slope
    measured, and the residual (measured - predicted: what d, r or L do with n1 held)."""
    from .fair import PARTS

    rows = []
    for part, column in PARTS.items():
        path = out / f"part-{part}.json"
        if not path.exists():
            continue
        saved = json.loads(path.read_text())
        xs = saved["sizes"]
        n1 = fit_slope(xs, [c["stage1_size"] for c in saved["cells"]])
        measured = bootstrap_slope(xs, [[t.get("m1") for t in c.get("per_teacher", [c])] for c in saved["cells"]],
                                   resamples=0)["slope"]
        ends = sorted(v * n1 for v in (fit["low"], fit["high"])) if fit["low"] is not None else [None, None]
        rows.append({"part": part, "n1_slope": n1, "predicted": fit["slope"] * n1, "predicted_low": ends[0],
                     "predicted_high": ends[1], "measured": measured, "residual": measured - fit["slope"] * n1})
    return rows


def render_headroom(headroom: dict[str, Any]) -> list[str]:
    """The headroom section of ``budgets.md`` (:func:`run_law_headroom`)."""
    run = headroom.get("run", {})

    def probe(t: dict) -> str:
        share = (f"same total, stage A x{t['stage_a_factor']:g}" if t.get("stage_a_factor", 1.0) != 1.0
                 else f"{t['c'] / headroom['c']:g} C")
        return (f"{share} (M1 {t['m1']}, M2 {t['m2']}, {t['memory']} floats): stage-A MSE {t['mse_a']:.3f}, "
                + ("passes" if t["passes"] else "fails" + ("" if t["passes_a"] else " (stage A)")))

    lines = ["## Headroom of the cells that fall", "",
             f"- command: `{run.get('command', '—')}`; date: {run.get('date', '—')}; machine: {run.get('machine', '—')}",
             f"- compute: {headroom.get('seconds_total', 0):.0f} s of probes",
             f"- at each cell whose pass rate falls below the calibration cell's, its first failing teachers: the same "
             f"total with stage A given {headroom['resplit_factor']:g}x its points (where stage B keeps a point), then "
             f"{' and '.join(f'{m:g}' for m in headroom['multiples'])} x C split as the law's terms, up to the first "
             "that passes (`mgdd.theory.budgets.run_law_headroom` says what each outcome means)", "",
             "| d | r | L | teacher | at C: stage-A MSE (full-data MSE) | probes, in order |", "| --- " * 6 + "|"]
    for row in headroom["rows"]:
        at_c = row["at_c"]
        lines.append(f"| {row['d']} | {row['r']} | {row['width']} | {row['teacher']} | {at_c['mse_a']:.3f} "
                     f"({at_c['full_mse']:.4f}) | " + "; ".join([probe(t) for t in row["probes"]]
                                                                 + [f"{p}: still to run" for p in row.get("pending", [])])
                     + " |")
    return lines + [""]


def render_budgets(out: str | Path) -> str:
    """``out/budgets.md`` from ``law-budget.json`` and ``n1-sweep.json``, whichever have run."""
    out = Path(out)
    lines = ["# The memory law's budget, and the real stage-1 budget", "",
             "Quadratic teachers and the fair test's criterion (`docs/theory-fair/results.md`): stage A within the "
             "absolute target, the fully distilled pipeline within the tolerance of its stage A followed by the real "
             "stage-2 data. Memory in stored floats. Produced by `python benchmarks/theory_multi_index.py --part law` "
             "and `--part n1` (resumable); `mgdd/theory/budgets.py` says how.", ""]
    law_path, n1_path, headroom_path = out / "law-budget.json", out / "n1-sweep.json", out / "law-headroom.json"
    if law_path.exists():
        law = json.loads(law_path.read_text())
        run = law.get("run", {})
        d, r, w = law["calibration_cell"]
        lines += ["## The law's budget C (r^2 d + L)", "",
                  f"- command: `{run.get('command', '—')}`; date: {run.get('date', '—')}; machine: {run.get('machine', '—')}",
                  f"- compute: {law['seconds_total']:.0f} s of trials in all (this call {law['seconds_this_call']:.0f} s)",
                  f"- C = {law['c']:g}: the smallest of {law['c_ladder']} for which every one of the "
                  f"{law['config']['teachers']} teachers passes at the smallest cell (d={d}, r={r}, L={w}); the "
                  "budget is split as the law's terms (C r^2 d floats to stage A, C L to stage B)", "",
                  "| d | r | L | r^2 d + L | C (r^2 d + L) | stored floats | M1 | M2 | stage-1 points | stage A passes | "
                  "pass rate [95 % Wilson] | MSE / full-data MSE (geo. mean, range) |", "| --- " * 12 + "|"]
        for c in law["cells"]:
            lo, hi = c["mse_ratio_range"]
            lines.append(f"| {c['d']} | {c['r']} | {c['width']} | {c['law_floats']} | {law['c'] * c['law_floats']:.0f} | "
                         f"{c['memory']} | {c['m1']} | {c['m2']} | {c['stage1_size']} | {c['passed_a']} / {c['teachers']} | "
                         f"{c['passed']} / {c['teachers']} [{c['pass_low']:.2f}, {c['pass_high']:.2f}] | "
                         f"{c['mse_ratio']:.2f} ({lo:.2f}-{hi:.2f}) |")
        lines += ["", "Verdict per sweep (a cell falls when its interval lies wholly below the calibration cell's): "
                  + "; ".join(f"{name}: {v}" for name, v in law["verdicts"].items()) + ".", ""]
    if headroom_path.exists():
        lines += render_headroom(json.loads(headroom_path.read_text()))
    if n1_path.exists():
        sweep = json.loads(n1_path.read_text())
        run = sweep.get("run", {})
        d, r, w = sweep["cell"]
        lines += [f"## M1 against the real stage-1 points at d={d}, r={r}, L={w}", "",
                  f"- command: `{run.get('command', '—')}`; date: {run.get('date', '—')}; machine: {run.get('machine', '—')}", "",
                  "| stage-1 points n1 | full-data MSE | M1 | stage-A memory | M2 | stage-B memory | total |",
                  "| --- " * 7 + "|"]
        for row in sweep["rows"]:
            lines.append(f"| {row['stage1_size']} | {row['full_mse']:.4f} | {row['m1']} | {row['memory_a']} | "
                         f"{row['m2']} | {row['memory_b']} | {row['memory']} |")
        fit = sweep["m1_vs_n1"]
        lines += ["", f"Log-log slope of M1 on n1 with d, r and L fixed: {format_interval(fit)} (bootstrap over the teachers).", ""]
        explained = n1_explains(out, fit) if fit["slope"] is not None else []
        if explained:
            lines += ["How much of the fair test's M1 slopes n1 explains: the calibration moves n1 with each swept "
                      "size; n1's slope there times M1's slope on n1 (with its interval) is the M1 slope that n1 "
                      "alone predicts; the residual is what the swept size does with n1 held.", "",
                      "| sweep | n1 slope on the size | M1 slope predicted from n1 [95 %] | M1 slope measured | "
                      "residual |", "| --- | --- | --- | --- | --- |"]

            def predicted(e: dict) -> str:
                if e["predicted_low"] is None:
                    return f"{e['predicted']:.2f}"
                return f"{e['predicted']:.2f} [{e['predicted_low']:.2f}, {e['predicted_high']:.2f}]"

            lines += [f"| {e['part']} | {e['n1_slope']:.2f} | {predicted(e)} | {e['measured']:.2f} | "
                      f"{e['residual']:+.2f} |" for e in explained]
            lines.append("")
    text = "\n".join(lines) + "\n"
    write_text_atomic(out / "budgets.md", text)
    return text
