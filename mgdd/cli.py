"""The ``mgdd`` command: distil, evaluate, show.

    mgdd distill --method herding --dataset fashion-mnist --ipc 10 --out runs/herding-ipc10
    mgdd evaluate runs/herding-ipc10 --dataset fashion-mnist --epochs 300 --models 3
    mgdd show runs/herding-ipc10 --png grid.png
    mgdd experts --dataset fashion-mnist --experts 5 --epochs 6 --out runs/experts-fmnist
    mgdd distill --method mtt --dataset fashion-mnist --ipc 10 --out runs/mtt --option experts=runs/experts-fmnist
    mgdd teacher --dataset fashion-mnist --out runs/teacher-fmnist
    mgdd distill --method dwa --dataset fashion-mnist --ipc 10 --out runs/dwa --option teacher=runs/teacher-fmnist
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ._version import __version__
from .configargs import add_protocol_options, protocol_choice


def _option_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_options(pairs: list[str]) -> dict:
    """``["lr=0.1", "arch=ConvNet"]`` -> ``{"lr": 0.1, "arch": "ConvNet"}`` (values parsed as JSON when they can be)."""
    options = {}
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"--option expects KEY=VALUE, got {pair!r}")
        key, value = pair.split("=", 1)
        options[key.strip()] = _option_value(value)
    return options


# The registered methods, named here so that a typo is refused in milliseconds, before torch is imported
# (tests/test_cli.py checks that this is the registry's list).
METHODS = ("random", "herding", "kcenter", "dc", "dsa", "dm", "mtt", "frepo", "seqmatch", "sre2l", "dwa", "mgdd")


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Defaults shown once: not where the help text already states one, nor for options without a value."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default in (None, False, [], argparse.SUPPRESS):
            return text
        return super()._get_help_string(action)


DATASET_HELP = ("dataset name: fashion-mnist (aliases fmnist, fashion_mnist), mnist, cifar10, cifar100, svhn, "
                "tiny-imagenet, imagefolder (with --root), digits (scikit-learn, offline), hues (procedural colour "
                "shapes, class = hue), or glyphs / shapes (the procedural meta-training sources)")
SEED_HELP = "random seed (the same seed gives the same set)"
DEVICE_HELP = "cpu, cuda or cuda:N (default: cuda when available, else cpu)"


def _command(sub, name: str, description: str) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=description, formatter_class=_HelpFormatter)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mgdd", description="Dataset distillation toolkit.")
    parser.add_argument("--version", action="version", version=f"mgdd {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = _command(sub, "distill", "distil a dataset with a registered method")
    p.add_argument("--method", required=True, choices=METHODS, metavar="METHOD",
                   help=f"a registered method: {', '.join(METHODS)} (docs/baselines.md, docs/mgdd.md)")
    p.add_argument("--dataset", required=True, help=DATASET_HELP)
    p.add_argument("--root", default=None, help="folder holding the dataset files")
    p.add_argument("--ipc", type=positive_int, required=True, help="images per class")
    p.add_argument("--out", required=True, help="output folder for the synthetic set")
    p.add_argument("--seed", type=int, default=0, help=SEED_HELP)
    p.add_argument("--device", default=None, help=DEVICE_HELP)
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="method option")
    p.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                   help="stop after this many seconds (iterative methods and mgdd, whose refinement fills it)")
    p.add_argument("--overwrite", action="store_true", help="replace a set already saved at --out")
    p.add_argument("--evaluate", action="store_true", help="evaluate the set after distilling")
    _add_eval_arguments(p)

    p = _command(sub, "evaluate", "evaluate a synthetic set under the standard protocol")
    p.add_argument("path", help="synthetic-set folder, or a Hub dataset id")
    p.add_argument("--dataset", default=None, help="test data (default: the set's source dataset)")
    p.add_argument("--root", default=None, help="folder holding the dataset files")
    p.add_argument("--device", default=None, help=DEVICE_HELP)
    p.add_argument("--seed", type=int, default=0, help=SEED_HELP)
    _add_eval_arguments(p)

    p = _command(sub, "experts", "train expert trajectories for MTT (resumable)")
    p.add_argument("--dataset", required=True, help=DATASET_HELP)
    p.add_argument("--root", default=None, help="folder holding the dataset files")
    p.add_argument("--out", required=True, help="buffer folder (an existing one is resumed)")
    p.add_argument("--experts", type=int, default=5, help="expert trajectories to train")
    p.add_argument("--epochs", type=int, default=6, help="training epochs of each expert (its trajectory's length)")
    p.add_argument("--arch", default="ConvNet", help="network the experts train (the one MTT matches through)")
    p.add_argument("--lr", type=float, default=0.01, help="the experts' SGD learning rate")
    p.add_argument("--per-class", type=int, default=None, help="train on this many images per class")
    p.add_argument("--no-augment", action="store_true", help="train without DSA augmentation")
    p.add_argument("--seed", type=int, default=0, help=SEED_HELP)
    p.add_argument("--device", default=None, help=DEVICE_HELP)

    p = _command(sub, "teacher", "train a BatchNorm teacher for SRe2L / DWA (squeeze; resumable)")
    p.add_argument("--dataset", required=True, help=DATASET_HELP)
    p.add_argument("--root", default=None, help="folder holding the dataset files")
    p.add_argument("--out", required=True, help="teacher folder (an unfinished one is resumed)")
    p.add_argument("--arch", default="ConvNetBN", help="teacher network (needs BatchNorm: SRe2L matches its statistics)")
    p.add_argument("--epochs", type=int, default=5, help="training epochs of the teacher")
    p.add_argument("--lr", type=float, default=0.1, help="the teacher's SGD learning rate")
    p.add_argument("--batch-size", type=int, default=128, help="the teacher's training batch size")
    p.add_argument("--seed", type=int, default=0, help=SEED_HELP)
    p.add_argument("--device", default=None, help=DEVICE_HELP)

    p = _command(sub, "release", "build the released collection of a dataset from saved sets (a Hub dataset repo)")
    p.add_argument("--dataset", required=True, help=DATASET_HELP)
    p.add_argument("--sets", default=None, help="folder of saved sets, <method>/ipc<k>/ (default: runs/sets/DATASET)")
    p.add_argument("--results", nargs="*", default=[], help="results JSON files whose entries give the accuracies")
    p.add_argument("--missing", action="append", default=[], metavar="METHOD/IPCk=WHY",
                   help="a set the collection lacks and why (repeatable; listed in the card)")
    p.add_argument("--out", default="releases", help="the collection goes to OUT/DATASET")
    p.add_argument("--push", default=None, metavar="ORG", help="also upload it to the Hub as ORG/DATASET-distilled")
    p.add_argument("--model", action="append", default=[], metavar="NAME",
                   help="also build the model repository of this generator in OUT/models/NAME (repeatable; "
                        "with --push uploaded as ORG/NAME)")
    p.add_argument("--teacher", action="append", default=[], metavar="NAME",
                   help="also build the model repository of this SRe2L/DWA teacher (a bundled name, folder or Hub id) "
                        "in OUT/models/NAME (repeatable; with --push uploaded as ORG/NAME)")

    p = _command(sub, "pull", "download one released set (checked against the collection's checksums)")
    p.add_argument("dataset", help="dataset name, Hub dataset repo id or local collection folder")
    p.add_argument("--method", required=True, help="method of the set (`mgdd releases DATASET` lists them)")
    p.add_argument("--ipc", type=int, required=True, help="images per class of the set")
    p.add_argument("--out", required=True, help="folder to save the set to")
    p.add_argument("--dd-ranking", action="store_true",
                   help="also write DD-Ranking's export (images.pt, labels.pt, lr.pt where learned) in OUT")

    p = _command(sub, "releases", "list the sets of a released collection, from its index")
    p.add_argument("dataset", help="dataset name, Hub dataset repo id or local collection folder")

    p = _command(sub, "show", "describe a synthetic set and optionally write its image grid")
    p.add_argument("path")
    p.add_argument("--png", default=None, help="write a grid image (one row per class) here")
    return parser


def _add_eval_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--arch", nargs="+", default=["ConvNet"], help="architecture(s) to evaluate with")
    add_protocol_options(p)
    p.add_argument("--lr", type=float, default=None, help="learning rate (the set's learned lr, else 0.01)")
    p.add_argument("--no-augment", action="store_true", help="train without DSA augmentation")
    p.add_argument("--teacher", default=None,
                   help="relabel protocol (SRe2L/DWA): the student learns this teacher's soft labels online")
    p.add_argument("--temperature", type=float, default=30.0, help="temperature of the relabel protocol")
    p.add_argument("--curriculum", action="store_true",
                   help="train on the set's subsets in order, S1 then S1+S2 ... (sets distilled by SeqMatch)")
    p.add_argument("--json", default=None, help="also write the results as JSON here")


def _run_evaluation(syn, args) -> None:
    from .data import load_dataset
    from .evaluation import evaluate
    from .io import write_json_atomic

    dataset = args.dataset or syn.metadata.get("dataset")
    if not dataset:
        raise SystemExit("error: the set does not record its dataset; pass --dataset")
    test = load_dataset(dataset, "test", root=args.root)
    models, epochs, look = protocol_choice(args)
    protocol = f"relabel protocol (teacher {args.teacher})" if args.teacher else "standard protocol"
    print(f"evaluating {len(syn)} images: {models} model{'s' if models != 1 else ''} x {epochs} epochs of "
          f"{', '.join(args.arch)}, {protocol}{f' ({look})' if look else ''}, tested on {len(test)} {dataset} images "
          "(change with --protocol / --models / --epochs)", flush=True)
    results = evaluate(
        syn, test, arch=list(args.arch), models=models, epochs=epochs, lr=args.lr,
        augment=not args.no_augment, seed=args.seed, device=args.device, curriculum=args.curriculum,
        teacher=args.teacher, temperature=args.temperature,
    )
    for result in results.values():
        if look:
            result.extra["protocol"] = look
        print(result)
    if args.json:
        write_json_atomic(args.json, {name: r.to_dict() for name, r in results.items()})


def check_output_folder(path: str, overwrite: bool = True) -> None:
    """Refuse an output path that cannot become a folder, or that holds a saved set (unless ``overwrite``),
    before any work is done."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out {path} exists and is not a folder; choose another path")
    if not overwrite and (out / "synthetic.safetensors").exists():
        raise FileExistsError(f"--out {path} already holds a synthetic set; pass --overwrite to replace it, or "
                              "choose another folder")
    parent = next((p for p in [out, *out.parents] if p.exists()), Path("."))
    if not os.access(parent, os.W_OK):
        raise PermissionError(f"--out {path}: {parent} is not writable")


def check_architectures(names: list[str]) -> None:
    from .nets import check_network_name

    for name in names:
        check_network_name(name)  # KeyError listing what exists


def cmd_distill(args) -> None:
    from .data import load_dataset
    from .methods import distill, get_method

    options = parse_options(args.option)
    if args.time_budget is not None:
        options["time_budget"] = args.time_budget
    get_method(args.method).create(**options)  # unknown method or option: refused before loading any data
    check_output_folder(args.out, overwrite=args.overwrite)
    if args.evaluate:
        check_architectures(args.arch)
    train = load_dataset(args.dataset, "train", root=args.root)
    syn = distill(args.method, train, args.ipc, seed=args.seed, device=args.device, **options)
    folder = syn.save(args.out)
    cost = f"{syn.metadata['wall_time']:.1f} s"
    if syn.metadata.get("features_cached"):  # the set's cost counts its features, computed by an earlier run
        cost += f"; {syn.distill_seconds:.1f} s with its selection features, reused from a cache"
    print(f"{syn} -> {folder} ({cost})")
    if args.evaluate:
        _run_evaluation(syn, args)


def cmd_evaluate(args) -> None:
    from .release import load_synthetic

    check_architectures(args.arch)
    _run_evaluation(load_synthetic(args.path), args)


def cmd_experts(args) -> None:
    from .baselines import train_experts
    from .data import load_dataset

    train = load_dataset(args.dataset, "train", root=args.root)
    test = load_dataset(args.dataset, "test", root=args.root)
    buffer = train_experts(train, args.out, args.experts, args.epochs, args.arch, args.lr, dsa=not args.no_augment,
                           per_class=args.per_class, seed=args.seed, test=test, device=args.device)
    for record in sorted(buffer.manifest["experts"], key=lambda e: e["index"]):
        print(f"expert {record['index']}: {record['seconds']} s, test accuracy {record.get('test_accuracy')}")
    print(f"{len(buffer)} experts of {buffer.epochs} epochs in {args.out}")


def cmd_teacher(args) -> None:
    from .data import load_dataset
    from .teacher import CONFIG_FILE, train_teacher

    train = load_dataset(args.dataset, "train", root=args.root)
    test = load_dataset(args.dataset, "test", root=args.root)
    train_teacher(train, args.out, args.arch, args.epochs, args.lr, args.batch_size, seed=args.seed, test=test,
                  device=args.device)
    config = json.loads((Path(args.out) / CONFIG_FILE).read_text())
    print(f"{config['arch']} teacher in {args.out}: test accuracy {config.get('test_accuracy')} %, "
          f"{config['seconds']} s")


def cmd_show(args) -> None:
    from .release import load_synthetic

    syn = load_synthetic(args.path)
    print(syn)
    counts = syn.sample_classes.bincount(minlength=syn.num_classes).tolist()
    print("per class:", dict(zip(syn.class_names, counts)))
    if syn.learned_lr is not None:
        print("learned lr:", syn.learned_lr)
    pixels = syn.denormalize()
    outside = float(((pixels < 0) | (pixels > 1)).float().mean())
    print(f"pixel range: {float(pixels.min()):.3f} to {float(pixels.max()):.3f} (real images: 0 to 1; "
          f"{100 * outside:.1f} % of pixels outside)")
    print(json.dumps(syn.metadata, indent=2, sort_keys=True))
    if args.png:
        print("grid:", syn.save_grid(Path(args.png)), f"({min(10, syn.ipc)} of {syn.ipc} per class; pixels clipped "
              "to the real range [0, 1] for display only, the set itself is unchanged)")


def cmd_release(args) -> None:
    from pathlib import Path

    from .io import push_folder
    from .release import (
        accuracies_from_results, build_collection, build_model_repository, build_teacher_repository, find_sets,
        push_collection, release_repo_id,
    )

    sets = find_sets(args.sets or Path("runs") / "sets" / args.dataset)
    if not sets:
        raise FileNotFoundError(f"no saved sets under {args.sets or Path('runs') / 'sets' / args.dataset} "
                                "(expected <method>/ipc<k>/synthetic.safetensors)")
    missing = dict(item.split("=", 1) for item in args.missing if "=" in item)
    repo_id = release_repo_id(args.dataset, args.push) if args.push else None
    folder = build_collection(args.dataset, sets, Path(args.out) / args.dataset, accuracies_from_results(args.results),
                              missing, repo_id)
    print(f"{len(sets)} sets -> {folder}")
    if args.push:
        print(push_collection(folder, repo_id))
    builders = [(name, build_model_repository) for name in args.model]
    builders += [(name, build_teacher_repository) for name in args.teacher]
    for name, build in builders:
        repo_id = f"{args.push}/{Path(name).name}" if args.push else None
        model_folder = build(name, Path(args.out) / "models", repo_id)
        print(f"model {name} -> {model_folder}")
        if args.push:
            print(push_folder(model_folder, repo_id, "model", f"Release {name} (mgdd)"))


def cmd_pull(args) -> None:
    from .release import load_synthetic

    syn = load_synthetic(args.dataset, method=args.method, ipc=args.ipc)
    folder = syn.save(args.out)
    if args.dd_ranking:
        syn.export_dd_ranking(folder)
    print(f"{args.method} IPC {args.ipc} -> {folder}")


def cmd_releases(args) -> None:
    from .release import collection_sets, fetch_index

    index = fetch_index(args.dataset)
    print(f"{index['repo_id']} ({index['dataset']}): {len(index['sets'])} sets")
    for key, entry in collection_sets(index):
        acc = entry.get("accuracy")
        print(f"  {key:24s} {entry['labels']:4s} labels  " + (f"{acc['mean']:.2f} ± {acc['std']:.2f}" if acc else "—"))
    for key, why in index.get("missing", {}).items():
        print(f"  {key:24s} missing: {why}")


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # usage errors (exit 2, argparse's message printed) and --help (0)
        return int(exit_.code or 0)
    handlers = {"distill": cmd_distill, "evaluate": cmd_evaluate, "experts": cmd_experts, "teacher": cmd_teacher,
                "show": cmd_show, "release": cmd_release, "pull": cmd_pull, "releases": cmd_releases}
    try:
        handlers[args.command](args)
    except BrokenPipeError:  # `mgdd show X | head`: the reader left; not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print(f"\ninterrupted. {_resume_hint(args)}", file=sys.stderr)
        return 130
    except (KeyError, ValueError, FileNotFoundError, FileExistsError, NotADirectoryError, PermissionError,
            ConnectionError, TypeError, MemoryError, FloatingPointError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"error: {message}", file=sys.stderr)
        return 2
    return 0


def _resume_hint(args) -> str:
    """Where an interrupted command left its work and how to continue it."""
    options = dict(pair.split("=", 1) for pair in getattr(args, "option", []) if "=" in pair)
    if args.command == "distill" and "snapshot_dir" in options:
        folder = Path(options["snapshot_dir"])
        if (folder / "state.safetensors").exists():
            return f"The last snapshot is in {folder}; run the same command again to resume from it."
        if (folder / "one_pass").exists():
            return (f"The one-pass set is kept in {folder / 'one_pass'} (no refinement snapshot yet); run the same "
                    "command again to continue from it.")
        every = options.get("snapshot_every", "snapshot_every")
        return (f"No snapshot was written yet: the first goes to {folder} after {every} iterations (or at the first "
                "snapshot_at time); the same command starts again from the beginning.")
    if args.command in ("experts", "teacher"):
        return f"Finished epochs are saved in {args.out}; run the same command again to resume."
    if args.command == "distill":
        return "Nothing was saved; pass --option snapshot_dir=DIR to make a long run resumable."
    return "Nothing was saved."


if __name__ == "__main__":
    sys.exit(main())
