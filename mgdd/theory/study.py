"""The numerical study: memory of distilled data against d, r and L, subspace energy, alignment.

``run_study(StudyConfig(...), out)`` writes ``results.json``, ``results.md`` and PNG plots into
``out``; ``python -m mgdd.theory [--quick]`` runs it with the default (or a reduced) grid.
Everything is seeded: the same config reproduces every number.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from ..io import save_figure_atomic, write_json_atomic, write_text_atomic
from .distill import DistilledData, distill_stage1, distill_stage2
from .model import TEACHER_LINKS, MultiIndexTeacher, StudentConfig, first_stage, mean_squared_error, train_student


@dataclass
class StudyConfig:
    """Sizes and budgets of the study (defaults: minutes on a 2-core CPU)."""

    base: tuple[int, int, int] = (64, 2, 512)  # (d, r, L) varied one at a time
    d_values: tuple[int, ...] = (32, 64, 128)
    r_values: tuple[int, ...] = (1, 2, 3, 4)
    width_values: tuple[int, ...] = (256, 512, 1024)
    stage1_per_dim: int = 256  # real stage-1 samples = stage1_per_dim * d
    stage2_samples: int = 8192
    test_samples: int = 10000
    stage1_ladder: tuple[int, ...] = (4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128)
    stage2_ladder: tuple[int, ...] = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)
    memory_curve_sizes: tuple[tuple[int, int], ...] = ((2, 32), (4, 64), (8, 128), (16, 256), (32, 512))
    tolerance: float = 1.2  # each distilled stage within this x its real-data reference (see minimal_memory)
    steps: int = 300
    students: int = 3  # student seeds averaged per evaluation
    noise: float = 0.0
    stage2_full_space: bool = False  # store stage-B points as full inputs (d + 1 floats) instead of coordinates
    # "fixed": stage B distilled for each evaluated student's own initialisation and biases (its L
    # second-layer weights are what the points encode); "fresh": over new ones every step (transfer)
    stage2_init: str = "fixed"
    teachers: int = 1  # teachers per (d, r, L) in the scaling sweeps; memories are averaged geometrically
    seed: int = 0
    link: str = "hermite23"  # the teachers' link (MultiIndexTeacher.create)
    # None: stage1_per_dim * d real stage-1 points at every size. A float: as many as the size needs for its
    # full-data student to reach this test MSE (calibrate_stage1_size), so that the reference is equally good
    # at every size and the per-stage criterion equally strict
    reference_mse: float | None = None
    search: str = "linear"  # how the ladders are searched: "linear" or "gallop" (smallest_passing)
    # stage A's target: "relative" (tolerance x this teacher's full-data MSE) or "absolute" (tolerance x
    # reference_mse at every size and teacher: one bar, which every calibrated full-data student beats)
    criterion: str = "relative"

    def __post_init__(self):
        if self.stage2_init not in ("fixed", "fresh"):
            raise ValueError(f"stage2_init must be 'fixed' or 'fresh', got {self.stage2_init!r}")
        if self.link not in TEACHER_LINKS:
            raise ValueError(f"link must be one of {TEACHER_LINKS}, got {self.link!r}")
        if self.search not in ("linear", "gallop"):
            raise ValueError(f"search must be 'linear' or 'gallop', got {self.search!r}")
        if self.reference_mse is not None and self.reference_mse <= 0:
            raise ValueError(f"reference_mse must be positive, got {self.reference_mse}")
        if self.criterion not in ("relative", "absolute"):
            raise ValueError(f"criterion must be 'relative' or 'absolute', got {self.criterion!r}")
        if self.criterion == "absolute" and self.reference_mse is None:
            raise ValueError("criterion='absolute' needs reference_mse (the target is tolerance x reference_mse)")

    def stage_a_target(self, full_mse: float) -> float:
        """The test MSE that stage-A points must reach (followed by the real stage-2 data)."""
        return self.tolerance * (self.reference_mse if self.criterion == "absolute" else full_mse)

    @classmethod
    def quick(cls) -> "StudyConfig":
        return cls(base=(32, 2, 256), d_values=(16, 32), r_values=(1, 2), width_values=(128, 256),
                   stage1_per_dim=128, stage2_samples=2048, test_samples=2000, stage1_ladder=(4, 8, 16, 32, 64),
                   stage2_ladder=(16, 32, 64, 128, 256, 512), memory_curve_sizes=((4, 32), (8, 64), (16, 128)),
                   steps=100, students=2)


@dataclass
class Problem:
    """A teacher with its real data (stage 1, stage 2, test) and the full-data student's MSE."""

    d: int
    r: int
    width: int
    teacher: MultiIndexTeacher
    stage1: tuple[torch.Tensor, torch.Tensor]
    stage2: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]
    student: StudentConfig
    students: int
    seed: int
    full_mse: float = field(default=math.nan)
    _stage1_sets: dict = field(default_factory=dict, repr=False)

    @classmethod
    def create(cls, d: int, r: int, width: int, config: StudyConfig, teacher_index: int = 0,
               stage1_size: int | None = None) -> "Problem":
        """The problem of one teacher; ``stage1_size`` real stage-1 points (default ``stage1_per_dim * d``)."""
        seed = config.seed + 1000 * d + 10 * r + 100_003 * teacher_index
        teacher = MultiIndexTeacher.create(d, r, config.noise, seed=seed, link=config.link)
        rng = torch.Generator().manual_seed(config.seed + 1)
        problem = cls(d, r, width, teacher, teacher.sample(stage1_size or config.stage1_per_dim * d, rng),
                      teacher.sample(config.stage2_samples, rng), teacher.sample(config.test_samples, rng),
                      StudentConfig(width=width), config.students, config.seed)
        problem.full_mse = problem.mse(problem.stage1, problem.stage2)
        return problem

    def distilled_stage1(self, size: int, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``size`` stage-A points distilled from this problem's real stage-1 data (computed once per size and steps)."""
        if (size, steps) not in self._stage1_sets:
            self._stage1_sets[size, steps] = distill_stage1(self.stage1, size, self.student, steps=steps, seed=self.seed)
        return self._stage1_sets[size, steps]

    @property
    def student_seeds(self) -> list[int]:
        """Seeds of the evaluated students' initialisations (see :func:`~mgdd.theory.model.first_stage`)."""
        return [self.seed + 77 + i for i in range(self.students)]

    def student_mse(self, seed: int, stage1, stage2) -> float:
        """Test MSE of the student with initialisation ``seed`` trained on (stage1, stage2)."""
        return mean_squared_error(train_student(stage1, stage2, self.student, torch.Generator().manual_seed(seed)),
                                  *self.test)

    def mse(self, stage1, stage2) -> float:
        """Test MSE of the student trained on (stage1, stage2), averaged over student seeds."""
        values = [self.student_mse(seed, stage1, stage2) for seed in self.student_seeds]
        return sum(values) / len(values)

    def random_subset(self, memory: int) -> tuple[tuple, tuple]:
        """Real points of equal memory, half of it per stage (d + 1 floats per point)."""
        per_stage = max(1, memory // (2 * (self.d + 1)))
        x1, y1 = self.stage1
        x2, y2 = self.stage2
        return (x1[:per_stage], y1[:per_stage]), (x2[:per_stage], y2[:per_stage])


STAGE1_SIZE_STEP = 1024  # calibrated stage-1 sizes are multiples of this


def calibrate_stage1_size(d: int, r: int, width: int, config: StudyConfig, max_size: int = 1 << 19) -> int:
    """Real stage-1 points for which the full-data student of the first teacher reaches ``config.reference_mse``,
    and not far below it (about 1.05-1.3x), so that every size of a sweep has an equally good reference.

    Measured on these teachers: the full-data MSE falls as 1 / n1 (and as 1 / L), so one probe at
    ``stage1_per_dim * d`` points predicts the size (up or down); it is then checked and raised by 1.25x until
    the target is met. Without ``reference_mse``: the fixed ``stage1_per_dim * d``.
    """
    size = config.stage1_per_dim * d
    if config.reference_mse is None:
        return size

    def rounded(value: float) -> int:
        return min(max_size, max(STAGE1_SIZE_STEP, math.ceil(value / STAGE1_SIZE_STEP) * STAGE1_SIZE_STEP))

    mse = Problem.create(d, r, width, config, 0, size).full_mse
    size = rounded(size * mse / config.reference_mse * 1.05)
    mse = Problem.create(d, r, width, config, 0, size).full_mse
    while mse > config.reference_mse:
        if size >= max_size:
            raise RuntimeError(f"(d={d}, r={r}, L={width}): {size} stage-1 points give full-data MSE {mse:.4f}, "
                               f"above the reference {config.reference_mse}; raise reference_mse or max_size")
        size = rounded(size * 1.25)
        mse = Problem.create(d, r, width, config, 0, size).full_mse
    return size


def stage2_dim(d: int, r: int, m1: int, full_space: bool = False) -> int | None:
    """Coordinates per stage-B point: 4r principal directions of the stage-A points (capped by M1 and d),
    or None for full inputs."""
    return None if full_space else min(4 * r, m1, d)


def distilled_mse(problem: Problem, stage1: tuple, m2: int, config: StudyConfig) -> tuple[float, DistilledData]:
    """Stage B on top of the stage-A points ``stage1``: test MSE of the fully distilled pipeline and the data.

    With ``stage2_init="fixed"`` each evaluated student gets M2 points distilled for its own
    initialisation (memory: one set); the returned data is the first student's.
    """
    dim = stage2_dim(problem.d, problem.r, len(stage1[0]), config.stage2_full_space)
    if config.stage2_init == "fresh":
        data = distill_stage2(stage1, problem.stage2, m2, problem.student, dim, steps=config.steps, seed=problem.seed)
        return problem.mse(stage1, (data.stage2_x, data.stage2_y)), data
    values, first = [], None
    for init_seed in problem.student_seeds:
        data = distill_stage2(stage1, problem.stage2, m2, problem.student, dim, steps=config.steps,
                              init_seed=init_seed, seed=problem.seed)
        values.append(problem.student_mse(init_seed, stage1, (data.stage2_x, data.stage2_y)))
        first = first or data
    return sum(values) / len(values), first


def smallest_passing(ladder: tuple[int, ...], passes, search: str = "linear") -> tuple[int, Any] | None:
    """The smallest ladder value whose ``passes(value) -> (ok, payload)`` is ok, with its payload; None if none is.

    ``"linear"`` tries the values in order; ``"gallop"`` assumes that passing is monotone in the value and
    tries positions 0, 1, 3, 7, ... until one passes, then bisects below it (about 2 log2 of the rungs instead of
    all of them below the answer).
    """
    if search == "linear":
        for value in ladder:
            ok, payload = passes(value)
            if ok:
                return value, payload
        return None
    tried: dict[int, tuple[bool, Any]] = {}

    def check(i: int) -> bool:
        if i not in tried:
            tried[i] = passes(ladder[i])
        return tried[i][0]

    failed, step = -1, 1
    while True:
        i = min(failed + step, len(ladder) - 1)
        if check(i):
            break
        if i == len(ladder) - 1:
            return None
        failed, step = i, step * 2
    low, high = failed + 1, i  # ladder[high] passes, everything up to ``failed`` fails
    while low < high:
        mid = (low + high) // 2
        if check(mid):
            high = mid
        else:
            low = mid + 1
    return ladder[high], tried[high][1]


def minimal_memory(problem: Problem, config: StudyConfig) -> dict[str, Any]:
    """Smallest memory per stage, each within ``tolerance`` of its real-data reference.

    Stage A: smallest M1 whose distilled points, followed by the real stage-2 data, reach
    ``config.stage_a_target`` (tolerance x the full-data MSE, or x ``reference_mse``: ``config.criterion``).
    Stage B: with those stage-A points, the smallest M2 whose distilled points reach tolerance x the MSE
    of the same stage A followed by the real stage-2 data.
    Memory = M1 (d + 1) + M2 (k + 1); ``mse`` is the MSE of the fully distilled pipeline.
    Each ladder is searched as ``config.search`` says (:func:`smallest_passing`).
    """
    found: dict[str, Any] = {"d": problem.d, "r": problem.r, "width": problem.width, "full_mse": problem.full_mse,
                             "target_a": config.stage_a_target(problem.full_mse),
                             "m1": None, "m2": None, "memory_a": None, "memory_b": None, "memory": None,
                             "mse_a": None, "mse": None}

    def stage_a(m1: int) -> tuple[bool, tuple]:
        x, y = problem.distilled_stage1(m1, config.steps)
        mse_a = problem.mse((x, y), problem.stage2)
        return mse_a <= config.stage_a_target(problem.full_mse), (x, y, mse_a)

    hit = smallest_passing(config.stage1_ladder, stage_a, config.search)
    if hit is None:
        return found
    m1, (x, y, mse_a) = hit
    found.update(m1=m1, mse_a=mse_a, memory_a=m1 * (problem.d + 1),
                 subspace_energy=float(problem.teacher.subspace_energy(x).mean()))

    def stage_b(m2: int) -> tuple[bool, tuple]:
        mse, data = distilled_mse(problem, (x, y), m2, config)
        return mse <= config.tolerance * mse_a, (mse, data)

    hit = smallest_passing(config.stage2_ladder, stage_b, config.search)
    if hit is not None:
        m2, (mse, data) = hit
        found.update(m2=m2, memory=data.memory, memory_b=data.memory - found["memory_a"], mse=mse)
    return found


def average_over_teachers(found: list[dict[str, Any]]) -> dict[str, Any]:
    """One scaling cell from per-teacher searches: geometric means over the teachers that reached each
    criterion (None if none did), arithmetic means of the MSEs, and the per-teacher records."""
    if len(found) == 1:
        return {**found[0], "teachers_reached": int(found[0]["memory"] is not None)}
    cell = {k: found[0][k] for k in ("d", "r", "width", "stage1_size") if k in found[0]}
    for key in ("full_mse", "mse_a", "mse"):
        values = [f[key] for f in found if f[key] is not None]
        cell[key] = sum(values) / len(values) if values else None
    for key in ("m1", "m2", "memory_a", "memory_b", "memory"):
        values = [f.get(key) for f in found if f.get(key) is not None]
        cell[key] = round(math.exp(sum(math.log(v) for v in values) / len(values))) if values else None
    cell["teachers_reached"] = sum(f["memory"] is not None for f in found)
    cell["per_teacher"] = found
    return cell


def memory_curve(problem: Problem, config: StudyConfig) -> list[dict[str, Any]]:
    """Test MSE against stored floats: distilled data vs a random real subset of equal memory."""
    rows = []
    for m1, m2 in config.memory_curve_sizes:
        stage1 = problem.distilled_stage1(m1, config.steps)
        distilled, data = distilled_mse(problem, stage1, m2, config)
        rows.append({"m1": m1, "m2": m2, "memory": data.memory, "distilled_mse": distilled,
                     "random_mse": problem.mse(*problem.random_subset(data.memory)), "full_mse": problem.full_mse,
                     "subspace_energy": float(problem.teacher.subspace_energy(data.stage1_x).mean())})
    return rows


def alignment(problem: Problem, m1: int, config: StudyConfig) -> dict[str, float]:
    """Energy in span(U) of M1 distilled stage-A inputs, and of the first-layer weights after the step
    on all the real stage-1 data vs on those points (the same initialisation)."""
    stage1 = problem.distilled_stage1(m1, config.steps)
    weights_real, _ = first_stage(problem.stage1, problem.student, torch.Generator().manual_seed(problem.seed + 5))
    weights_distilled, _ = first_stage(stage1, problem.student, torch.Generator().manual_seed(problem.seed + 5))
    energy = problem.teacher.subspace_energy
    return {"random_direction": problem.r / problem.d,
            "distilled_inputs": float(energy(stage1[0]).mean()),
            "real_inputs": float(energy(problem.stage1[0]).mean()),
            "weights_real_trained": float(energy(weights_real).mean()),
            "weights_distilled_trained": float(energy(weights_distilled).mean())}


def fit_slope(xs: list[float], ys: list[float], log: bool = True) -> float | None:
    """Least-squares slope of y on x (log-log by default); None with fewer than two points."""
    points = [(x, y) for x, y in zip(xs, ys) if y is not None]
    if len(points) < 2:
        return None
    x = torch.tensor([math.log(p[0]) if log else p[0] for p in points], dtype=torch.float64)
    y = torch.tensor([math.log(p[1]) if log else p[1] for p in points], dtype=torch.float64)
    x = x - x.mean()
    return float((x * (y - y.mean())).sum() / x.pow(2).sum())


def sweeps(config: StudyConfig) -> dict[str, list[tuple[int, int, int]]]:
    """The (d, r, L) cells of each sweep: one of d, r, L varied around ``config.base``."""
    d0, r0, w0 = config.base
    return {"d": [(d, r0, w0) for d in config.d_values], "r": [(d0, r, w0) for r in config.r_values],
            "width": [(d0, r0, w) for w in config.width_values]}


def calibration_fields(config: StudyConfig) -> dict[str, Any]:
    """The config fields that calibrate_stage1_size depends on (JSON-normalised)."""
    fields = ("seed", "link", "noise", "reference_mse", "stage1_per_dim", "stage2_samples", "test_samples", "students")
    return json.loads(json.dumps({k: getattr(config, k) for k in fields}))


def sibling_results(out: Path, partial_name: str, config: dict) -> dict[str, dict]:
    """Finished (cell, teacher) searches in the other partial files of ``out`` made with the same config."""
    found: dict[str, dict] = {}
    for path in sorted(out.glob("partial*.json")):
        if path.name != partial_name:
            other = json.loads(path.read_text())
            if other.get("config") == config:
                found.update(other.get("found", {}))
    return found


def scaling_cells(config: StudyConfig, out: Path, progress: bool = True, names: tuple[str, ...] | None = None,
                  partial_name: str = "partial.json") -> dict[tuple[int, int, int], dict]:
    """Minimal-memory search for every (d, r, L) of the sweeps (or of the sweeps ``names``) and every teacher,
    averaged per cell.

    Each finished (cell, teacher), and each calibrated stage-1 size, is saved to ``out/<partial_name>`` at once,
    so an interrupted run resumes where it stopped (with the same config; another config starts afresh).
    """
    partial_path = out / partial_name
    partial = json.loads(partial_path.read_text()) if partial_path.exists() else {}
    normalised = json.loads(json.dumps(asdict(config)))
    if partial.get("config") != normalised:
        # another config starts afresh, but keeps calibrated stage-1 sizes that it would compute again
        same_calibration = all(partial.get("config", {}).get(k) == v for k, v in calibration_fields(config).items())
        partial = {"config": normalised, "found": {},
                   "stage1_sizes": partial.get("stage1_sizes", {}) if same_calibration else {}}
    chosen = {name: cells for name, cells in sweeps(config).items() if names is None or name in names}
    cells = sorted({cell for cells in chosen.values() for cell in cells})
    todo = [(cell, t) for cell in cells for t in range(config.teachers)]
    siblings = sibling_results(out, partial_name, normalised)
    for cell, teacher in tqdm(todo, desc="scaling", disable=not progress):
        key = f"{cell}/{teacher}"
        if key not in partial["found"] and key in siblings:  # the sweeps share their base cell
            partial["found"][key] = siblings[key]
            write_json_atomic(partial_path, partial)
        if key not in partial["found"]:
            started = time.perf_counter()
            sizes = partial.setdefault("stage1_sizes", {})
            if str(cell) not in sizes:
                sizes[str(cell)] = calibrate_stage1_size(*cell, config)
                write_json_atomic(partial_path, partial)
            problem = Problem.create(*cell, config, teacher, sizes[str(cell)])
            found = minimal_memory(problem, config)
            partial["found"][key] = {**found, "stage1_size": sizes[str(cell)], "seconds": time.perf_counter() - started}
            write_json_atomic(partial_path, partial)
    return {cell: average_over_teachers([partial["found"][f"{cell}/{t}"] for t in range(config.teachers)])
            for cell in cells}


def run_study(config: StudyConfig, out: str | Path, progress: bool = True, run: dict | None = None) -> dict[str, Any]:
    """Run every measurement, write results.json / results.md / plots into ``out``, return the results.

    ``run``: provenance recorded with the results (date, machine, command; see :mod:`mgdd.provenance`).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    cache = scaling_cells(config, out, progress)
    base = Problem.create(*config.base, config, 0, calibrate_stage1_size(*config.base, config))
    results = {
        "config": asdict(config),
        "run": run or {},
        "scaling": {name: [cache[c] for c in cells] for name, cells in sweeps(config).items()},
        "memory_curve": memory_curve(base, config),
        "alignment": alignment(base, config.memory_curve_sizes[-1][0], config),
    }
    results["seconds"] = round(time.perf_counter() - started, 1)  # this invocation (a resumed run counts the rest)
    scaling = results["scaling"]
    results["slopes"] = {
        "stage-A memory vs d (log-log)": fit_slope(config.d_values, [c["memory_a"] for c in scaling["d"]]),
        "stage-A memory vs r (log-log)": fit_slope(config.r_values, [c["memory_a"] for c in scaling["r"]]),
        "total memory vs d (log-log)": fit_slope(config.d_values, [c["memory"] for c in scaling["d"]]),
        "total memory vs r (log-log)": fit_slope(config.r_values, [c["memory"] for c in scaling["r"]]),
        "stage-B memory vs L (linear, floats per unit of L)": fit_slope(
            config.width_values, [c["memory_b"] for c in scaling["width"]], log=False),
        "total memory vs L (linear, floats per unit of L)": fit_slope(
            config.width_values, [c["memory"] for c in scaling["width"]], log=False),
    }
    write_json_atomic(out / "results.json", results)
    write_text_atomic(out / "results.md", render(results))
    plot(results, out)
    (out / "partial.json").unlink(missing_ok=True)
    return results


def render(results: dict[str, Any]) -> str:
    run = results.get("run", {})
    lines = ["# Dataset distillation on multi-index models: results", ""]
    lines += [f"- {key}: `{run[key]}`" if key == "command" else f"- {key}: {run[key]}"
              for key in ("command", "date", "machine") if key in run]
    lines += [f"- config: `{json.dumps(results['config'])}`", f"- wall time: {results['seconds']} s", "",
             "## Test MSE against memory (floats stored)", "",
             "| M1 | M2 | memory | distilled MSE | random real (equal memory) MSE | full-data MSE | energy in span(U) |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for row in results["memory_curve"]:
        lines.append(f"| {row['m1']} | {row['m2']} | {row['memory']} | {row['distilled_mse']:.4f} | "
                     f"{row['random_mse']:.4f} | {row['full_mse']:.4f} | {row['subspace_energy']:.3f} |")
    tolerance = results["config"]["tolerance"]
    lines += ["", f"## Smallest memory: each stage within {tolerance}x its real-data reference", "",
              "Stage A: distilled stage-1 points + real stage-2 data vs full data. Stage B: the same stage A +",
              "distilled stage-2 points vs + real stage-2 data. `MSE` is the fully distilled pipeline's.", "",
              "| sweep | d | r | L | full MSE | M1 | stage-A memory | stage-A MSE | M2 | stage-B memory | total memory "
              "| MSE | teachers reaching |",
              "| --- " * 13 + "|"]

    def number(value, digits=4):
        return "not reached" if value is None else (f"{value:.{digits}f}" if isinstance(value, float) else str(value))

    for name, cells in results["scaling"].items():
        for c in cells:
            lines.append(f"| {name} | {c['d']} | {c['r']} | {c['width']} | {c['full_mse']:.4f} | {number(c['m1'])} | "
                         f"{number(c['memory_a'])} | {number(c['mse_a'])} | {number(c['m2'])} | "
                         f"{number(c.get('memory_b'))} | {number(c['memory'])} | "
                         f"{number(c['mse'])} | {c.get('teachers_reached', '—')} / {results['config'].get('teachers', 1)} |")
    lines += ["", "Fitted slopes (paper: ~1 in d, ~2 in r, additive in L):", ""]
    lines += [f"- {k}: {v:.2f}" if v is not None else f"- {k}: not enough points" for k, v in results["slopes"].items()]
    lines += ["", "## Subspace energy and alignment (fraction of squared norm in span(U))", ""]
    lines += [f"- {k}: {v:.3f}" for k, v in results["alignment"].items()]
    return "\n".join(lines) + "\n"


def plot(results: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    curve = results["memory_curve"]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    memory = [r["memory"] for r in curve]
    ax.plot(memory, [r["distilled_mse"] for r in curve], "o-", label="distilled")
    ax.plot(memory, [r["random_mse"] for r in curve], "s-", label="random real, equal memory")
    ax.axhline(curve[0]["full_mse"], color="gray", linestyle="--", label="full data")
    ax.set(xscale="log", yscale="log", xlabel="memory (floats)", ylabel="test MSE", title="MSE vs memory")
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.legend()
    fig.tight_layout()
    save_figure_atomic(fig, out / "mse_vs_memory.png")
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.3))
    for ax, (name, key) in zip(axes, [("d", "d"), ("r", "r"), ("width", "width")]):
        for field_name, label in (("memory_a", "stage A"), ("memory_b", "stage B"), ("memory", "total")):
            cells = [c for c in results["scaling"][name] if c.get(field_name) is not None]
            ax.plot([c[key] for c in cells], [c[field_name] for c in cells], "o-", label=label)
        ax.legend()
        cells = [c for c in results["scaling"][name] if c["memory_a"] is not None]
        ax.set(xlabel="L" if key == "width" else key, ylabel="memory (floats)",
               title=f"smallest memory vs {'L' if key == 'width' else key}")
        if key != "width" and cells:
            ax.set(xscale="log", yscale="log")
            ax.set_xticks([c[key] for c in results["scaling"][name]])  # the measured sizes, as plain numbers
            ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    fig.tight_layout()
    save_figure_atomic(fig, out / "memory_scaling.png")
