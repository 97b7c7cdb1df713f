"""Time to accuracy: every method's distillation timed on one processor model, its sets evaluated later.

    python benchmarks/time_to_accuracy.py --ipc 10 --phase distill --methods herding dm frepo mtt --threads 1
    python benchmarks/time_to_accuracy.py --ipc 10 --phase distill --methods mgdd mgdd-identity --threads 1
    python benchmarks/time_to_accuracy.py --ipc 10 --phase evaluate --models 2 --epochs 300

Distill phase: each iterative method runs once to the largest rung of --ladder (seconds of distillation on
this machine) and snapshots the iteration that crosses each rung (``snapshot_at``); MGDD's pipeline runs the
same way (adaptation, one pass, then refinement to the budget: its snapshots are its curve). Each rung's set
is copied to checkpoints/time_to_accuracy/<processor>/ipc<k>/<method>/<rung>/ (committed: a later session,
on another processor, evaluates it) and entered in results/time_to_accuracy.json with its seconds and
processor, accuracy pending. Only distillation is timed. MTT's seconds include training its experts here.
Evaluate phase: every pending set is evaluated under the protocol (ConvNet-3, SGD, DSA), network by network
(resumable, checkpoints/partial_evaluations.json), on any machine. Both phases are resumable: rerun the same
command. A table compares only rows of one processor model.

Seconds depend on the job beside a run (the refinement's seconds per step ranged from 2.0 to 3.1 at IPC 10 with
different neighbours): start runs that compete together, each the other's neighbour, and read ``neighbours``
(the other Python jobs when a run started) and ``iterations`` before reading small differences.

Methods: random, herding, dm, dc, dsa, mtt, frepo (baselines with their defaults); mgdd (the pipeline's
defaults), mgdd-identity (herding start and labels, no generator, then refinement), mgdd-untrained (an
untrained generator adapted as the bundled one is), mgdd-meta (the bundled generator adapted, then
refinement, when the default skips it), mgdd-meta-refinement (the generator meta-trained on the refinement's
objective, from runs/meta_refinement/model).

A table is one processor model, and one revision of the timed code where ``--revision`` names one (a change that
makes some methods faster starts a new table, run again for every method; rows of two tables do not compare).
The README, the model card and the release read ``SHIPPED_TABLE``.

Output: results/time_to_accuracy.md (one section per table and IPC) and results/time_to_accuracy_ipc<k>.png.
"""

from __future__ import annotations

import argparse
import re
import shutil
from pathlib import Path

import torch

import mgdd
from mgdd.io import save_figure_atomic
from common import (
    CHECKPOINTS_DIR, RESULTS_DIR, add_run_options, apply_threads, command_line, evaluate_by_model, load_results,
    machine_description, neighbour_jobs, save_results, today, write_markdown,
)
from mgdd.baselines import list_snapshots, train_experts
from mgdd.baselines.experts import buffer_seconds
from mgdd.provenance import processor_model
from mgdd.selection import clear_feature_cache

NAME = "time_to_accuracy"
BASELINES = ("herding", "dm", "dc", "dsa", "mtt", "frepo")
ITERATIVE = ("dm", "dc", "dsa", "mtt", "frepo")
# MGDD's variants: options of distill("mgdd", ...) beside the defaults
MGDD_VARIANTS = {
    "mgdd": {},
    "mgdd-identity": {"steps": 0, "generator": "none"},
    "mgdd-meta": {"generator": "pretrained"},
    "mgdd-untrained": {"generator": "untrained"},
    # the generator meta-trained on the refinement's objective (device_check.py --meta-train, or train_meta.py
    # --objective refinement --pool-size 0 --out runs/meta_refinement), adapted as the bundled one is
    "mgdd-meta-refinement": {"generator": "pretrained", "model": "runs/meta_refinement/model"},
}
RUNS = Path("runs") / NAME
SETS = CHECKPOINTS_DIR / NAME
# the table that the README's summary, the plots, the model card and the released sets read
SHIPPED_TABLE = "AMD EPYC, Zen 4, family 25 model 17"
ACCEPTANCE_BUDGET = 1200.0  # seconds: the MGDD issue compares with the best baseline accuracy within this budget


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ipc", type=int, default=10)
    parser.add_argument("--phase", choices=("distill", "evaluate", "both"), default="both")
    parser.add_argument("--methods", nargs="+", default=["random", "herding", "mgdd", "dm", "frepo", "mtt"],
                        choices=["random", *BASELINES, *MGDD_VARIANTS])
    parser.add_argument("--ladder", type=int, nargs="+", default=[60, 120, 300, 600, 1200],
                        help="rungs: seconds of distillation on this machine")
    parser.add_argument("--rungs", nargs="+", default=None, metavar="RUNG",
                        help="evaluate phase: only these rungs (e.g. 1200 one-pass; default: 0, one-pass and --ladder)")
    parser.add_argument("--mgdd-option", action="append", default=[], metavar="KEY=VALUE",
                        help="an option of distill('mgdd', ...) for every MGDD variant (recorded in the row)")
    parser.add_argument("--experts", type=int, default=3)
    parser.add_argument("--expert-epochs", type=int, default=6)
    parser.add_argument("--expert-per-class", type=int, default=1000, help="expert training images per class")
    parser.add_argument("--mtt-memory-gb", type=float, default=None,
                        help="MTT's guard on the unrolled student's activations (default: MTT's, 75%% of the "
                             "machine's memory; the estimate is 9.0 GB at IPC 10, 13.5 GB at IPC 50: mtt_memory.md)")
    parser.add_argument("--revision", default=None,
                        help="distill into a new table on this processor, named by this revision of the timed code "
                             "(e.g. 'chunked embedding'); evaluate that table's sets")
    parser.add_argument("--summary", action="store_true",
                        help="print the README's table of the default pipeline from the results file, run nothing")
    add_run_options(parser)
    return parser.parse_args()


def processor_slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.device = mgdd.resolve_device(args.device)
        self.path = RESULTS_DIR / f"{NAME}.json"
        self.results = load_results(self.path)
        self.processor = processor_model() if self.device.type == "cpu" else torch.cuda.get_device_name(self.device)
        self.table = self.processor if args.revision is None else f"{self.processor}, {args.revision}"
        self.slug = processor_slug(self.table)
        self.runs = RUNS / self.slug / f"ipc{args.ipc}"
        self._train = None
        self.neighbours = neighbour_jobs()  # the jobs beside this one when it starts (its seconds depend on them)

    @property
    def train(self) -> mgdd.ImageDataset:
        if self._train is None:
            self._train = mgdd.load_dataset("fashion-mnist", "train")
        return self._train

    def key(self, method: str, rung: float | int | str) -> str:
        return f"{self.slug}/ipc{self.args.ipc}/{method}/{rung}"

    # ------------------------------------------------------------------ distill phase
    def record_set(self, method: str, rung: float | int | str, syn: mgdd.SyntheticSet, seconds: float,
                   **extra) -> None:
        """Keep ``syn`` for a later evaluation and enter its seconds (accuracy pending)."""
        folder = SETS / self.slug / f"ipc{self.args.ipc}" / method / str(rung)
        syn.save(folder, grid=False)
        entry = {"method": method, "ipc": self.args.ipc, "rung": rung, "seconds": round(seconds, 1),
                 "processor": self.processor, "table": self.table,
                 "set": str(folder.relative_to(CHECKPOINTS_DIR.parent)),
                 **extra, "accuracy": None, "distill_date": today(),
                 "distill_machine": machine_description(self.device), "distill_command": command_line(),
                 "neighbours": self.neighbours}
        self.results[self.key(method, rung)] = entry
        save_results(self.path, self.results)
        print(self.key(method, rung), f"set kept at {seconds:.0f} s", flush=True)

    def distill_random(self) -> None:
        if self.key("random", 0) not in self.results:
            self.record_set("random", 0, mgdd.distill("random", self.train, self.args.ipc, seed=self.args.seed), 0.0)

    def distill_herding(self) -> None:
        if self.key("herding", 0) in self.results:
            return
        clear_feature_cache()  # its seconds include its feature network, as a user's first run does
        syn = mgdd.distill("herding", self.train, self.args.ipc, seed=self.args.seed, device=self.device)
        self.record_set("herding", 0, syn, syn.distill_seconds)

    def expert_seconds(self) -> float:
        folder = self.runs.parent / "experts"
        train_experts(self.train, folder, self.args.experts, self.args.expert_epochs,
                      per_class=self.args.expert_per_class, seed=self.args.seed, device=self.device)
        return buffer_seconds(folder)

    def pending_rungs(self, method: str) -> list[float | str]:
        rungs = [*(["one-pass"] if method in MGDD_VARIANTS else []), *self.args.ladder]
        return [r for r in rungs if self.key(method, r) not in self.results]

    def distill_iterative(self, method: str, options: dict, upfront: float = 0.0) -> None:
        """One run to the largest rung, snapshotting each rung's crossing; each rung's snapshot kept."""
        rungs = self.pending_rungs(method)
        if not rungs:
            return
        folder = self.runs / method
        clear_feature_cache()  # every run pays for its herding features, as a user's first run does
        syn = mgdd.distill(method if not method.startswith("mgdd") else "mgdd", self.train, self.args.ipc,
                           seed=self.args.seed, device=self.device, time_budget=max(self.args.ladder),
                           snapshot_dir=str(folder), snapshot_at=list(self.args.ladder), progress=False, **options)
        snapshots = [(float(mgdd.SyntheticSet.load(p).metadata["distill_seconds"]), p)
                     for _, p in list_snapshots(folder)]
        if (folder / "one_pass").is_dir():  # MGDD's first point: the one-pass set, before any refinement
            self.keep_rung(method, "one-pass", mgdd.SyntheticSet.load(folder / "one_pass"), upfront, options)
        for rung, (seconds, path) in rung_snapshots(snapshots, self.args.ladder).items():
            if self.key(method, rung) not in self.results:
                self.keep_rung(method, rung, mgdd.SyntheticSet.load(path), upfront, options)
        del syn

    def keep_rung(self, method: str, rung: float | str, kept: mgdd.SyntheticSet, upfront: float, options: dict) -> None:
        if self.key(method, rung) not in self.results:
            self.record_set(method, rung, kept, kept.distill_seconds + upfront, iterations=kept.metadata.get("iteration"),
                            upfront_seconds=round(upfront, 1), options=stringify(options),
                            stages=kept.metadata.get("stages"))

    def distill(self) -> None:
        for method in self.args.methods:
            if method == "random":
                self.distill_random()
            elif method == "herding":
                self.distill_herding()
            elif method in MGDD_VARIANTS:
                self.distill_iterative(method, {**MGDD_VARIANTS[method], **parse_options(self.args.mgdd_option)})
            elif method == "mtt":
                if self.pending_rungs(method):
                    upfront = self.expert_seconds()
                    self.distill_iterative(method, {"experts": str(self.runs.parent / "experts"), "snapshot_every": 10,
                                                    "max_memory_gb": self.args.mtt_memory_gb}, upfront)
            else:
                self.distill_iterative(method, {"snapshot_every": 10**9})

    # ------------------------------------------------------------------ evaluate phase
    def evaluate(self) -> None:
        test = mgdd.load_dataset("fashion-mnist", "test")
        rungs = {str(r) for r in (self.args.rungs or (0, "one-pass", *self.args.ladder))}
        for key in sorted(self.results):
            entry = self.results[key]
            if entry.get("ipc") != self.args.ipc or "set" not in entry or entry["method"] not in self.args.methods \
                    or str(entry["rung"]) not in rungs:
                continue  # --ipc, --methods, --ladder and --rungs choose what this call evaluates (the rest waits)
            # the file as it is now: another process may have finished this entry since this one started
            entry = self.results[key] = {**entry, **load_results(self.path).get(key, {})}
            evaluated = entry.get("accuracy") is not None and entry.get("epochs") == self.args.epochs
            if (evaluated and entry.get("models", 0) >= self.args.models) or (
                    entry.get("accuracy") is not None and not evaluated):
                continue  # evaluated already (more --models than it has adds networks; other epochs: not here)
            syn = mgdd.SyntheticSet.load(CHECKPOINTS_DIR.parent / entry["set"])
            earlier = f"{NAME}/{key}/{entry['models']}x{self.args.epochs}" if evaluated else None
            result = evaluate_by_model(f"{NAME}/{key}/{self.args.models}x{self.args.epochs}", self.args.models,
                                       self.args.seed, lambda seed: mgdd.evaluate(
                                           syn, test, models=1, epochs=self.args.epochs, seed=seed,
                                           device=self.device), extends=earlier)
            # into the entry as it is now: each save replaces self.results' entries with the merged file's
            self.results[key] = {**self.results[key], "accuracy": round(result.mean, 2),
                                 "std": round(result.std, 2), "accuracies": result.accuracies,
                                 "models": self.args.models, "epochs": self.args.epochs, "date": today(),
                                 "machine": machine_description(self.device), "command": command_line()}
            entry = self.results[key]
            save_results(self.path, self.results)
            print(key, f"{entry['accuracy']} ± {entry['std']} at {entry['seconds']} s", flush=True)

    def run(self) -> None:
        if self.args.phase in ("distill", "both"):
            self.distill()
        if self.args.phase in ("evaluate", "both"):
            self.evaluate()
        publish(self.results, [self.args.ipc])


def publish(results: dict, ipcs: list[int]) -> None:
    """results/time_to_accuracy.md and the plots of ``ipcs``, from :func:`views` of ``results``."""
    shown = views(results)
    write_markdown(RESULTS_DIR / f"{NAME}.md", render(shown))
    for ipc in ipcs:
        plot(shown, ipc, RESULTS_DIR / f"{NAME}_ipc{ipc}.png")


def rung_snapshots(snapshots: list[tuple[float, Path]], ladder: list[int]) -> dict[int, tuple[float, Path]]:
    """Each rung's set: the first snapshot at or past the rung and before the next one (a run snapshots the
    iteration that crosses each rung; a rung its run passed over before its first snapshot has none)."""
    chosen = {}
    bounds = sorted(ladder) + [float("inf")]
    for rung, following in zip(bounds, bounds[1:]):
        inside = [(seconds, path) for seconds, path in snapshots if rung <= seconds < following]
        if inside:
            chosen[rung] = min(inside)
    return chosen


def parse_options(pairs: list[str]) -> dict:
    import json

    options = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def stringify(options: dict) -> dict:
    return {k: v for k, v in options.items() if k not in ("snapshot_every", "max_memory_gb")}


def table_of(entry: dict) -> str | None:
    """The table of a row: its processor model and, where named, its code revision (None: the earlier, mixed runs)."""
    return entry.get("table", entry.get("processor"))


def curves(results: dict, ipc: int, table: str | None) -> dict[str, list[dict]]:
    """Each method's evaluated entries at ``ipc`` in ``table`` (None: the earlier, mixed runs)."""
    found: dict[str, list[dict]] = {}
    for entry in results.values():
        if entry["ipc"] == ipc and table_of(entry) == table and entry.get("accuracy") is not None:
            found.setdefault(entry["method"], []).append(entry)
    return {m: sorted(v, key=lambda e: e["seconds"]) for m, v in sorted(found.items())}


KEPT_LABELS = ", one-hot kept"  # suffix of a variant's curve with the labels the pipeline keeps now


def with_kept_labels(results: dict, relabelled: dict) -> dict:
    """``results`` with MGDD's curves as the pipeline emits its sets now, where a run saved other labels: a run that
    learned labels from a one-hot start (IPC 50, before the refinement kept the one pass's label policy) has its
    sets' one-hot-label accuracies in ``relabelled`` (refined_labels.json, treatment ``hard``; the images are the
    same). They become the curve ``<variant>, one-hot kept``, which starts at the variant's one-pass set (one-hot
    already). For the views (tables, plots, summaries) only: the results file keeps its rows."""
    shown = dict(results)
    for name, found in relabelled.items():
        row = results.get(found["set_key"])
        if found["treatment"] != "hard" or row is None or not row["method"].startswith("mgdd"):
            continue
        method = row["method"] + KEPT_LABELS
        shown[name] = {**row, **{k: found[k] for k in ("accuracy", "std", "models", "epochs", "machine", "command")},
                       "method": method}
        for key, start in results.items():
            if (start["method"], start["ipc"], start["rung"]) == (row["method"], row["ipc"], "one-pass") and \
                    table_of(start) == table_of(row):
                shown[key + KEPT_LABELS] = {**start, "method": method}
    return shown


def views(results: dict) -> dict:
    """What the tables, plots and summaries show: ``results`` with :func:`with_kept_labels` of refined_labels.json."""
    return with_kept_labels(results, load_results(RESULTS_DIR / "refined_labels.json"))


def mgdd_curves(by_method: dict[str, list[dict]]) -> list[str]:
    """MGDD's curves among ``by_method``: its variants' and their kept-label curves (:data:`KEPT_LABELS`)."""
    return [m for m in by_method if m.split(",")[0] in MGDD_VARIANTS]


def acceptance(by_method: dict[str, list[dict]], mgdd_method: str = "mgdd") -> str:
    """The MGDD issue's test: at each of MGDD's rungs, MGDD at or above every baseline measured at that many
    seconds or fewer."""
    if mgdd_method not in by_method:
        return f"{mgdd_method} not evaluated yet."
    lines = []
    for point in by_method[mgdd_method]:
        earlier = [e for m in BASELINES for e in by_method.get(m, []) if e["seconds"] <= point["seconds"]]
        if not earlier:
            lines.append(f"{point['seconds']:.0f} s: {point['accuracy']:.2f} (no baseline this early)")
            continue
        best = max(earlier, key=lambda e: e["accuracy"])
        verdict = "at or above" if point["accuracy"] >= best["accuracy"] else "BELOW"
        lines.append(f"{point['seconds']:.0f} s: {point['accuracy']:.2f}, {verdict} the best baseline so far "
                     f"({best['method']} {best['accuracy']:.2f} at {best['seconds']:.0f} s)")
    return f"{mgdd_method} against the baselines at equal or fewer seconds: " + "; ".join(lines) + "."


def shipped_table(results: dict) -> str | None:
    """``SHIPPED_TABLE`` where it has an evaluated row, else the newest table with one (None: no such row)."""
    evaluated = [e for e in results.values() if table_of(e) and e.get("accuracy") is not None]
    if any(table_of(e) == SHIPPED_TABLE for e in evaluated):
        return SHIPPED_TABLE
    return max((e.get("distill_date", ""), table_of(e)) for e in evaluated)[1] if evaluated else None


def rung_table(results: dict, ipc: int, table: str) -> list[str]:
    """Markdown: each method's accuracy at each rung (its seconds in brackets), and the best baseline at that many
    seconds or fewer: the curves of the plot as a table."""
    by_method = curves(results, ipc, table)
    if not by_method:
        return []
    numeric = sorted({e["rung"] for entries in by_method.values() for e in entries if isinstance(e["rung"], (int, float))
                      and e["rung"] > 0})
    columns = ["start", *numeric]  # start: the one-pass set, or a method's only set (random, herding)

    def cell(entry: dict | None) -> str:
        return "" if entry is None else f"{entry['accuracy']:.2f} ({entry['seconds']:.0f} s)"

    def column_of(entry: dict) -> str | float:
        return "start" if entry["rung"] in (0, "one-pass") else entry["rung"]

    lines = ["| method | start | " + " | ".join(f"{r} s" for r in numeric) + " |",
             "| --- | --- |" + " --- |" * len(numeric)]
    order = sorted(by_method, key=lambda m: (not m.startswith("mgdd"), m))
    for method in order:
        at = {column_of(e): e for e in by_method[method]}
        lines.append(f"| {method} | " + " | ".join(cell(at.get(c)) for c in columns) + " |")
    best = []
    for column in columns:
        limit = min((e["seconds"] for m in order if m.startswith("mgdd") for e in by_method[m]
                     if column_of(e) == column), default=None)
        if column != "start":
            limit = max(float(column) * 1.05, limit or 0.0)  # a rung's snapshot lands just past it
        earlier = [e for m in BASELINES for e in by_method.get(m, []) if limit is not None and e["seconds"] <= limit]
        top = max(earlier, key=lambda e: e["accuracy"], default=None)
        best.append("" if top is None else f"{top['method']} {top['accuracy']:.2f} ({top['seconds']:.0f} s)")
    lines.append("| best baseline by then | " + " | ".join(best) + " |")
    return lines


# the default pipeline's rows per IPC (mgdd-identity at IPC 10 ran before `mgdd` skipped the generator by default)
DEFAULT_PIPELINE = {1: "mgdd", 10: "mgdd-identity", 50: "mgdd"}


def pipeline_summary(results: dict, table: str) -> list[str]:
    """Markdown: the default pipeline's one pass and rungs per IPC, with the best baseline within its largest rung
    (the README's table; ``python time_to_accuracy.py --summary``)."""
    lines = ["| IPC | one pass | 60 s | 120 s | 300 s | 600 s | 1200 s | best baseline by then |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for ipc, method in sorted(DEFAULT_PIPELINE.items()):
        by_method = curves(results, ipc, table)
        if method + KEPT_LABELS in by_method:
            method += KEPT_LABELS  # the sets as the pipeline emits them now
        if method not in by_method:
            continue
        at = {e["rung"]: e for e in by_method[method]}

        def cell(e: dict | None) -> str:
            if e is None:
                return "—"
            spread = f" ± {e['std']:.2f}" if e.get("models", 0) >= 3 else ""
            return f"{e['accuracy']:.2f}{spread} ({e['seconds']:.0f} s)"

        last = by_method[method][-1]
        earlier = [e for m in BASELINES for e in by_method.get(m, []) if e["seconds"] <= last["seconds"] * 1.05]
        best = max(earlier, key=lambda e: e["accuracy"], default=None)
        lines.append(f"| {ipc} | " + " | ".join(cell(at.get(r)) for r in ("one-pass", 60, 120, 300, 600, 1200))
                     + f" | {'—' if best is None else best['method'] + ' ' + cell(best)} |")
    return lines


def render(results: dict) -> str:
    lines = [
        "# Time to accuracy on Fashion-MNIST (ConvNet-3, one protocol; one table per processor model and code revision)",
        "",
        "Seconds: distillation only, on one core of the 2-core machine while the other core ran other jobs (a loaded",
        "machine, the same for every method of a table): MGDD's adaptation + one pass + refinement; the baselines'",
        "distillation (MTT also counts training its experts, `upfront s`; herding its feature network). Each rung is",
        "the snapshot of one run at the iteration that crossed it. Sets are kept under",
        "`benchmarks/checkpoints/time_to_accuracy/` and evaluated later, on any machine (the `eval machine` column).",
        "Accuracy: ConvNet-3 trained on the set with the standard protocol (SGD, DSA), mean ± std over `models`.",
        "Only rows of one table share a processor model (and a revision of the timed code, where one is named);",
        "seconds of two tables do not compare.",
        "",
    ]
    tables = sorted({table_of(e) for e in results.values() if table_of(e)})
    for table in tables:
        for ipc in sorted({e["ipc"] for e in results.values() if table_of(e) == table}):
            entries = sorted((e for e in results.values() if table_of(e) == table and e["ipc"] == ipc),
                             key=lambda e: (e["method"], e["seconds"]))
            by_method = curves(results, ipc, table)
            pending = sum(e.get("accuracy") is None for e in entries)
            lines += [f"## IPC {ipc}, distilled on {table}", "",
                      " ".join(acceptance(by_method, m) for m in mgdd_curves(by_method)) or "Not evaluated yet.",
                      "" if not pending else f"\n{pending} set(s) distilled, evaluation pending.", "",
                      *rung_table(results, ipc, table), "",
                      "| method | rung | seconds | accuracy | models | epochs | iterations | upfront s | distilled | "
                      "evaluated on |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
            for e in entries:
                accuracy = "pending" if e.get("accuracy") is None else f"{e['accuracy']:.2f} ± {e['std']:.2f}"
                lines.append(
                    f"| {e['method']} | {e['rung']} | {e['seconds']:.0f} | {accuracy} | {e.get('models', '')} | "
                    f"{e.get('epochs', '')} | {e.get('iterations') if e.get('iterations') is not None else '—'} | "
                    f"{e.get('upfront_seconds', 0):.0f} | {e['distill_date']} | {e.get('machine', '—')} |")
            commands = sorted({c for e in entries for c in (e.get("distill_command"), e.get("command")) if c})
            lines += ["", f"![accuracy vs seconds, IPC {ipc}]({NAME}_ipc{ipc}.png)", "", "Commands:", ""]
            lines += [f"    {c}" for c in commands] + [""]
    legacy = [e for e in results.values() if not table_of(e)]
    if legacy:
        lines += ["## Earlier runs (2026-11-27 to 2026-12-04): baselines on an Intel Xeon, MGDD on an AMD EPYC", "",
                  "These rows mix two processors (each row names its machine) and were evaluated as they were distilled;",
                  "`mgdd-v1` is the pipeline before 2026-11-28, `mgdd` the one-pass pipeline of 2026-11-28 (adaptation",
                  "steps as the rung). The `mgdd-v1` rows were renamed by hand from `mgdd` when the defaults changed.", ""]
        for ipc in sorted({e["ipc"] for e in legacy}):
            lines += [f"### IPC {ipc}", "",
                      "| method | budget / steps | seconds | accuracy | models | epochs | iterations | upfront s | date | machine |",
                      "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
            for method, entries in curves(results, ipc, None).items():
                for e in entries:
                    lines.append(
                        f"| {method} | {e['rung']} | {e['seconds']:.0f} | {e['accuracy']:.2f} ± {e['std']:.2f} | "
                        f"{e['models']} | {e['epochs']} | {e.get('iterations', e.get('steps', '—'))} | "
                        f"{e.get('upfront_seconds', 0):.0f} | {e['date']} | {e['machine']} |")
            commands = sorted({e["command"] for e in legacy if e["ipc"] == ipc})
            lines += ["", "Commands:", ""] + [f"    {c}" for c in commands] + [""]
    return "\n".join(lines)


def plot(results: dict, ipc: int, path: Path) -> None:
    """Every method's curve on one axis, MGDD's as lines; the shipped table (:func:`shipped_table`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = shipped_table({k: e for k, e in results.items() if e["ipc"] == ipc})
    if table is None:
        return
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for method, entries in curves(results, ipc, table).items():
        if method == "random":
            ax.axhline(entries[0]["accuracy"], color="gray", linestyle="--", label="random real")
            continue
        xs = [max(e["seconds"], 1.0) for e in entries]
        style = {"linestyle": "-", "linewidth": 2} if method.startswith("mgdd") else {"linestyle": ":"}
        ax.errorbar(xs, [e["accuracy"] for e in entries], yerr=[e["std"] for e in entries], marker="o",
                    capsize=3, label=method, **style)
    ax.set_xscale("log")
    ax.set_xlabel(f"distillation seconds ({table}, one core)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"Fashion-MNIST, IPC {ipc}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure_atomic(fig, path)


def main() -> None:
    args = parse_args()
    if args.summary:
        results = views(load_results(RESULTS_DIR / f"{NAME}.json"))
        print("\n".join(pipeline_summary(results, shipped_table(results))))
        return
    apply_threads(args)
    torch.manual_seed(args.seed)
    Bench(args).run()


if __name__ == "__main__":
    main()
