"""Released synthetic sets: a collection per source dataset, laid out as a Hub dataset repository.

A collection folder (and the Hub repository built from it) holds::

    index.json                 every set: method, ipc, sha256 of each file, measured accuracy, provenance
    README.md                  dataset card (YAML metadata + a table composed from index.json)
    <method>/ipc<k>/           synthetic.safetensors, metadata.json, grid.png (the SyntheticSet folder)
                               on the Hub also images.pt, labels.pt (lr.pt): DD-Ranking's export of the set

DD-Ranking's export holds the same pixels again (float32 images barely compress), so a collection is built and
committed without it and ``push_collection`` adds it, with its checksums, to the copy it uploads
(:func:`add_dd_ranking_export`); ``mgdd pull --dd-ranking`` writes it beside a downloaded set.

``build_collection`` writes one from saved sets. :func:`mgdd.load_synthetic` resolves a dataset name
(``"fashion-mnist"``) to the collection that ships inside the package (``mgdd/releases/<dataset>/``,
:data:`SHIPPED_DIR`), with no network; a Hub repository (``org/name``) only when the user names one.
Every file is checked against the index's checksums.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from contextlib import contextmanager
from typing import Any, Iterable, Iterator

from .data.registry import available_datasets, resolve_name
from .io import CorruptFileError, hub_online, push_folder, sha256, write_json_atomic, write_text_atomic
from .synthetic import DD_RANKING_FILES, GRID_FILE, METADATA_FILE, TENSOR_FILE, SyntheticSet

RELEASE_ORG = "mgdd-project"  # the Hub organisation a push of the project's collections would use
SHIPPED_DIR = Path(__file__).resolve().parent / "releases"  # collections shipped in the package (package data)
INDEX_FILE = "index.json"
SET_FILES = (TENSOR_FILE, METADATA_FILE, GRID_FILE)
INDEX_VERSION = 1


def release_repo_id(dataset: str, org: str = RELEASE_ORG) -> str:
    """The Hub dataset repository ``mgdd release --push ORG`` makes for ``dataset``'s collection."""
    return f"{org}/{dataset.lower()}-distilled"


def shipped_collection(name: str) -> Path:
    """The collection folder of dataset ``name`` that ships with the package (``mgdd/releases/<dataset>``)."""
    try:
        dataset = resolve_name(name)
    except KeyError:
        raise FileNotFoundError(f"{name!r} is neither an existing path, a dataset name "
                                f"({', '.join(available_datasets())}) nor a Hub id 'org/name'") from None
    folder = SHIPPED_DIR / dataset
    if not (folder / INDEX_FILE).exists():
        shipped = sorted(p.name for p in SHIPPED_DIR.iterdir() if (p / INDEX_FILE).exists()) if SHIPPED_DIR.is_dir() else []
        raise FileNotFoundError(f"mgdd ships no released collection for {dataset!r} (it ships: "
                                f"{', '.join(shipped) or 'none'}); pass a collection folder or a Hub id 'org/name'")
    return folder


def set_key(method: str, ipc: int) -> str:
    return f"{method.lower()}/ipc{int(ipc)}"


def find_sets(root: str | os.PathLike) -> dict[str, Path]:
    """``{"<method>/ipc<k>": folder}`` for every saved set under ``root/<method>/ipc<k>/``."""
    root = Path(root)
    found = {}
    for tensors in sorted(root.glob(f"*/ipc*/{TENSOR_FILE}")):
        folder = tensors.parent
        if re.fullmatch(r"ipc\d+", folder.name):
            found[f"{folder.parent.name}/{folder.name}"] = folder
    return found


def add_dd_ranking_export(collection: str | os.PathLike) -> Path:
    """Write DD-Ranking's export (:meth:`SyntheticSet.export_dd_ranking`) into every set folder of a collection
    and record the files' sha256 in its index (``dd_ranking`` of each entry), so that downloads of them are
    checked too. Each set is verified first. mgdd itself never loads these files (they are pickles)."""
    collection = Path(collection)
    index = read_index(collection)
    for key, entry in index["sets"].items():
        folder = verify_set(collection, key, index)
        SyntheticSet.load(folder).export_dd_ranking(folder)
        entry["dd_ranking"] = {name: sha256(folder / name) for name in DD_RANKING_FILES if (folder / name).exists()}
    write_json_atomic(collection / INDEX_FILE, index)
    return collection


@contextmanager
def _staged_folder(out: Path) -> Iterator[Path]:
    """Yield an empty ``out.partial`` beside ``out``; once the block completes, it replaces ``out``."""
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    yield staging
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)


def build_collection(
    dataset: str,
    sets: dict[str, str | os.PathLike],
    out: str | os.PathLike,
    accuracies: dict[str, dict[str, Any]] | None = None,
    missing: dict[str, str] | None = None,
    repo_id: str | None = None,
) -> Path:
    """Write the collection of ``dataset`` to ``out``: each set of ``sets`` (``"<method>/ipc<k>"`` -> saved set
    folder) copied, ``index.json`` with checksums and ``accuracies`` (per key: ``mean``, ``std``, ``models``,
    ``epochs``, ``command``), and the dataset card. ``missing`` names the sets that are not there and why; the
    card lists them. ``repo_id``: the Hub repository it is pushed to, if any (the card names it only then).
    An existing ``out`` is replaced only once the new one is complete."""
    out = Path(out)
    loaded = {key: SyntheticSet.load(source) for key, source in sorted(sets.items())}
    for key, syn in loaded.items():  # every check before anything is written
        if syn.metadata.get("dataset") not in (None, dataset):
            raise ValueError(f"{sets[key]} was distilled from {syn.metadata.get('dataset')!r}, not {dataset!r}")
        _check_same_run(key, syn, (accuracies or {}).get(key))
    with _staged_folder(out) as staging:
        entries = {}
        for key, syn in loaded.items():
            accuracy = (accuracies or {}).get(key)
            method, ipc = key.split("/")
            folder = staging / key
            syn.save(folder)
            entries[key] = {
                "method": method, "ipc": int(ipc[3:]), "images": len(syn),
                "labels": "soft" if syn.soft_labels else "hard",
                "files": {name: sha256(folder / name) for name in SET_FILES},
                "accuracy": accuracy,
                "distilled": {**{k: syn.metadata.get(k) for k in ("seed", "options", "mgdd_version")},
                              "seconds": syn.distill_seconds},
            }
        index = {"format_version": INDEX_VERSION, "dataset": dataset, "repo_id": repo_id,
                 "sets": entries, "missing": dict(sorted((missing or {}).items()))}
        write_json_atomic(staging / INDEX_FILE, index)
        write_text_atomic(staging / "README.md", render_collection_card(index))
    return out


def _check_same_run(key: str, syn: SyntheticSet, accuracy: dict[str, Any] | None) -> None:
    """Refuse an accuracy measured on another run of the method than the saved set (e.g. another budget)."""
    made, measured = syn.metadata.get("iteration"), (accuracy or {}).get("iterations")
    if isinstance(made, int) and isinstance(measured, int) and made != measured:
        raise ValueError(f"{key}: the saved set is from iteration {made}, but its accuracy was measured on a set of "
                         f"{measured} iterations ({accuracy.get('command')}); save the set of the measured run, or "
                         "order the results files so that its benchmark comes last")


def render_collection_card(index: dict) -> str:
    """The collection's dataset card: YAML metadata, then a table of every set from ``index`` (never typed)."""
    from .cards import render_template

    rows = []
    for key, entry in collection_sets(index):
        acc = entry.get("accuracy")
        cell = f"{acc['mean']:.2f} ± {acc['std']:.2f} ({acc['models']} x {acc['epochs']} epochs)" if acc else "—"
        if acc and acc.get("relabel"):
            cell += f"; teacher relabel: {acc['relabel']['mean']:.2f} ± {acc['relabel']['std']:.2f}"
        seconds = entry.get("distilled", {}).get("seconds")
        rows.append(f"| {entry['method']} | {entry['ipc']} | {entry['images']} | {entry['labels']} | {cell} | "
                    f"{'—' if seconds is None else f'{seconds:.0f}'} | `{key}` |")
    missing = [f"- `{key}`: {why}" for key, why in index.get("missing", {}).items()]
    total = sum(entry["images"] for entry in index["sets"].values())
    example = next(iter(sorted(index["sets"])), "random/ipc10")
    method, ipc = example.split("/")[0], example.split("/")[1][3:]
    hub = (f"\n\nThe same sets on the Hub: `mgdd.load_synthetic(\"{index['repo_id']}\", method=\"{method}\", ipc={ipc})` "
           "(only that set and the index are downloaded)." if index.get("repo_id") else "")
    return render_template(
        "collection.md", dataset=index["dataset"], hub=hub, rows="\n".join(rows) or "| — |",
        missing="\n".join(missing) or "None.", size_category=_size_category(total),
        example_method=method, example_ipc=ipc,
    )


def _size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if n < limit:
            return name
    return "n>100K"


def read_index(folder: str | os.PathLike) -> dict:
    """The collection index of a local collection folder (or a downloaded snapshot)."""
    path = Path(folder) / INDEX_FILE
    if not path.exists():
        raise FileNotFoundError(f"{folder} is not a released collection (no {INDEX_FILE})")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise CorruptFileError(f"{path} is not valid JSON: {error}") from error


def verify_set(collection: str | os.PathLike, key: str, index: dict | None = None) -> Path:
    """Check the files of set ``key`` of a collection folder against the index; the set's folder if they match."""
    index = index or read_index(collection)
    if key not in index["sets"]:
        known = ", ".join(sorted(index["sets"])) or "none"
        why = index.get("missing", {}).get(key)
        raise FileNotFoundError(f"the {index['dataset']} collection holds no {key}"
                                + (f" ({why})" if why else "") + f"; it holds: {known}")
    folder = Path(collection) / key
    entry = index["sets"][key]
    for name, expected in {**entry["files"], **entry.get("dd_ranking", {})}.items():
        path = folder / name
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing from the collection")
        if sha256(path) != expected:
            raise CorruptFileError(f"{path} does not match the collection's checksum (corrupt or tampered); "
                                   "delete it and download the set again")
    return folder


def collection_sets(index: dict) -> Iterable[tuple[str, dict]]:
    """(key, entry) of every set of a collection index, by IPC then method."""
    return sorted(index["sets"].items(), key=lambda item: (item[1]["ipc"], item[1]["method"]))


def load_synthetic(
    source: str | os.PathLike,
    method: str | None = None,
    ipc: int | None = None,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    token: str | None = None,
) -> SyntheticSet:
    """Load a synthetic set by dataset name, Hub repository or local folder.

    ``source`` is a dataset name (``"fashion-mnist"``: the collection that ships with the package,
    :func:`shipped_collection`, read with no network), a Hub dataset repository (``"org/name"``: only that set
    and the collection's ``index.json`` are downloaded, through huggingface_hub's cache), or a local folder (one
    set, or a collection). For a collection give ``method`` and ``ipc`` to pick ``<method>/ipc<ipc>/``.
    Where the collection has an index, every file is checked against its sha256 first. Offline
    (``HF_HUB_OFFLINE`` or no network) a Hub id is read from the cache only, with no retries.
    """
    sub = _collection_subfolder(method, ipc)
    local = Path(source).expanduser()
    if local.exists():
        if sub and not (local / sub).exists():
            raise FileNotFoundError(f"{local} holds no set for method={method!r} ipc={ipc} (no {local / sub})")
        return SyntheticSet.load(_checked(local, sub))
    if "/" not in str(source):  # a dataset name: the shipped collection
        collection = shipped_collection(str(source))
        if not sub:
            raise ValueError(f"{source!r} names a released collection: give method= and ipc= to pick a set "
                             "(`mgdd releases` lists them)")
        return SyntheticSet.load(verify_set(collection, sub))
    repo_id = collection_repo_id(str(source))
    return SyntheticSet.load(_checked(_download(repo_id, sub, revision, cache_dir, token), sub))


def collection_repo_id(source: str) -> str:
    """``source`` as a Hub repository id 'org/name' (a clear error for anything else)."""
    if source.count("/") != 1 or source.startswith((".", "/")):
        raise FileNotFoundError(f"{source!r} is neither an existing path, a dataset name nor a Hub id 'org/name'")
    return source


def _checked(folder: Path, sub: str) -> Path:
    """The set's folder inside ``folder``, verified against the collection index when there is one."""
    if sub and (folder / INDEX_FILE).exists():
        return verify_set(folder, sub)
    return folder / sub if sub else folder


def _collection_subfolder(method: str | None, ipc: int | None) -> str:
    if method is None and ipc is None:
        return ""
    if method is None or ipc is None:
        raise ValueError("give both method= and ipc= to pick a set from a released collection")
    return set_key(method, ipc)


def _download(repo_id: str, sub: str, revision: str | None, cache_dir, token) -> Path:
    """The snapshot folder of ``repo_id`` holding ``sub`` (or everything) and the index."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError, RepositoryNotFoundError

    patterns = [f"{sub}/*", INDEX_FILE] if sub else None
    online = hub_online()
    try:
        folder = Path(snapshot_download(repo_id, repo_type="dataset", revision=revision, cache_dir=cache_dir,
                                        allow_patterns=patterns, token=token, local_files_only=not online))
    except RepositoryNotFoundError as error:
        raise FileNotFoundError(f"Hub dataset repository {repo_id!r} not found (or private)") from error
    except LocalEntryNotFoundError as error:
        raise ConnectionError(
            f"the Hugging Face Hub is {'offline (HF_HUB_OFFLINE or no network)' if not online else 'unreachable'} "
            f"and {repo_id!r} is not in the local cache; connect once to download it, or pass a local folder "
            f"(a collection built by `mgdd release`, such as {SHIPPED_DIR / 'fashion-mnist'})"
        ) from error
    if not ((folder / sub if sub else folder) / TENSOR_FILE).exists():
        raise FileNotFoundError(f"{repo_id!r} holds no synthetic set at {sub or 'its root'}")
    return folder


def accuracies_from_results(paths: Iterable[str | os.PathLike]) -> dict[str, dict[str, Any]]:
    """``{"<method>/ipc<k>": accuracy}`` from benchmark results files: entries with ``method``, ``ipc``, ``mean``
    (or ``accuracy``, or a ``hard`` protocol's result) and ``std`` made with the method's defaults (no
    ``options``); of one file's several budgets (``rung``) the largest, the set that benchmark keeps; later files
    win. An entry's teacher-relabel result (SRe2L/DWA's protocol) comes along as ``relabel``; SeqMatch's
    curriculum evaluation is left out (the card reports the standard protocol). Entries that name the set they
    evaluated (``set``: time_to_accuracy's kept rungs) are left out too: a release takes such a set, and its
    accuracy, through a results file of its own (``benchmarks/mgdd_release_sets.py``)."""
    found = {}
    for path in paths:
        rungs = {}  # budgets compare within one benchmark; across files the later one wins
        for entry in json.loads(Path(path).read_text()).values():
            entry = dict(entry)
            if "mean" not in entry and "accuracy" in entry:  # time_to_accuracy's entries: one per budget (rung)
                entry["mean"] = entry["accuracy"]
            if entry.get("evaluation") == "curriculum":  # SeqMatch's extra; the card reports the standard protocol
                continue
            if "mean" not in entry and isinstance(entry.get("hard"), dict):  # SRe2L/DWA: a result per label protocol
                entry.update(mean=entry["hard"]["mean"], std=entry["hard"]["std"])
            if not {"method", "ipc", "mean", "std"} <= set(entry) or entry.get("options"):
                continue
            if "set" in entry:  # the accuracy of the set it names (a kept rung), not of a set saved for release
                continue
            key = set_key(entry["method"], entry["ipc"])
            rung = entry.get("rung", 0)
            if key in rungs and rung < rungs[key]:
                continue  # the largest budget is the set the benchmark kept
            rungs[key] = rung
            found[key] = {name: entry.get(name) for name in ("mean", "std", "models", "epochs", "rung", "iterations",
                                                             "date", "machine", "command")}
            if isinstance(entry.get("relabel"), dict):
                found[key]["relabel"] = {k: entry["relabel"][k] for k in ("mean", "std")}
    return found


def fetch_index(source: str, revision: str | None = None, cache_dir: str | os.PathLike | None = None) -> dict:
    """The index of a collection: a local folder, a Hub dataset repo id, or a dataset name (the project's)."""
    local = Path(source).expanduser()
    if local.exists():
        return read_index(local)
    if "/" not in source:
        return read_index(shipped_collection(source))
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    repo_id = collection_repo_id(source)
    try:
        return read_index(Path(hf_hub_download(repo_id, INDEX_FILE, repo_type="dataset", revision=revision,
                                               cache_dir=cache_dir, local_files_only=not hub_online())).parent)
    except LocalEntryNotFoundError as error:
        raise ConnectionError(f"cannot reach the Hub for {repo_id!r} and its index is not cached; connect once, "
                              "or pass a local collection folder") from error


def push_collection(folder: str | os.PathLike, repo_id: str, token: str | None = None) -> str:
    """Upload a collection folder to the Hub dataset repository ``repo_id``, with DD-Ranking's export added to
    the uploaded copy (``folder`` is left as it is); the commit URL."""
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / Path(folder).name
        shutil.copytree(folder, staged)
        add_dd_ranking_export(staged)
        return push_folder(staged, repo_id, "dataset", f"Release {read_index(staged)['dataset']} sets (mgdd)",
                           token=token)


def build_model_repository(name: str, out: str | os.PathLike, repo_id: str | None = None) -> Path:
    """The Hub model repository of a bundled generator (or any ``from_pretrained`` source) in ``out/<name>``:
    weights, the architecture-only ``config.json`` and the card (provenance, measured results, model-index)."""
    from .generator.meta import MetaGenerator

    folder = Path(out) / Path(name).name
    MetaGenerator.from_pretrained(name).save_pretrained(folder, model_card_kwargs={"repo_id": repo_id or name})
    return folder


def build_teacher_repository(source: str | os.PathLike, out: str | os.PathLike, repo_id: str | None = None,
                             name: str | None = None) -> Path:
    """The Hub model repository of a teacher (a bundled name, folder or Hub id) in ``out/<name>`` (``name``:
    the source's own by default): its weights, config and a card whose ``model-index`` carries the test
    accuracy recorded in the config. Replaced only once complete."""
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    from .cards import render_template
    from .teacher import CONFIG_FILE, WEIGHTS_FILE, resolve_teacher

    folder = resolve_teacher(source)
    config = json.loads((folder / CONFIG_FILE).read_text())
    name = name or Path(str(source)).name
    if config.get("test_accuracy") is None:
        raise ValueError(f"{folder} records no test accuracy; train it with a test split (`mgdd teacher` does)")
    results = [EvalResult(task_type="image-classification", dataset_type=config["dataset"],
                          dataset_name=config["dataset"], dataset_split="test", metric_type="accuracy",
                          metric_value=config["test_accuracy"], metric_name=f"{config['arch']} test accuracy")]
    data = ModelCardData(library_name="mgdd", license="apache-2.0", datasets=[config["dataset"]],
                         tags=["dataset-distillation", "mgdd", "sre2l", "teacher"], model_name=name,
                         eval_results=results)
    body = render_template("teacher.md", teacher=name, repo_id=repo_id or name,
                           padding=max(1, config["image_shape"][1] // 8), **config)
    target = Path(out) / name
    with _staged_folder(target) as staging:
        for filename in (CONFIG_FILE, WEIGHTS_FILE):
            shutil.copyfile(folder / filename, staging / filename)
        write_text_atomic(staging / "README.md", str(ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}")))
    return target
