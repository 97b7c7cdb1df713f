"""Released collections: the layout and index `build_collection` writes, the dataset card, checksums, and
loading a set by dataset name through an offline Hub cache (conftest.py keeps the Hub offline)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

import mgdd
from mgdd.io import CorruptFileError
from mgdd.release import (
    INDEX_FILE, SET_FILES, add_dd_ranking_export, build_collection, find_sets, read_index, release_repo_id, sha256,
    verify_set,
)

COMMIT = "89abcdef0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def saved_sets(tmp_path_factory, digits_train) -> Path:
    root = tmp_path_factory.mktemp("sets")
    for method, ipc in (("random", 1), ("random", 2), ("herding", 1)):
        options = {} if method == "random" else {"feature_epochs": 0}
        mgdd.distill(method, digits_train, ipc, seed=0, **options).save(root / method / f"ipc{ipc}")
    (root / "random" / "notes").mkdir()  # not a set: ignored
    return root


@pytest.fixture()
def collection(saved_sets, tmp_path) -> Path:
    accuracies = {"random/ipc1": {"mean": 41.5, "std": 1.25, "models": 3, "epochs": 300, "command": "python x.py"}}
    return build_collection("digits", find_sets(saved_sets), tmp_path / "digits", accuracies,
                            missing={"dm/ipc1": "not distilled yet: needs a long run"})


def test_collection_layout_index_and_checksums(collection, saved_sets):
    index = read_index(collection)
    assert set(index["sets"]) == {"random/ipc1", "random/ipc2", "herding/ipc1"}
    assert index["repo_id"] is None  # named only once pushed: the card points to what exists
    assert release_repo_id("digits", "me") == "me/digits-distilled"
    for key, entry in index["sets"].items():
        assert set(entry["files"]) == set(SET_FILES)
        assert all(sha256(collection / key / name) == digest for name, digest in entry["files"].items())
    original = mgdd.SyntheticSet.load(saved_sets / "random" / "ipc2")
    copied = mgdd.load_synthetic(collection, method="random", ipc=2)
    assert torch.equal(copied.images, original.images) and torch.equal(copied.labels, original.labels)
    assert index["sets"]["random/ipc1"]["accuracy"]["mean"] == 41.5 and index["sets"]["random/ipc2"]["accuracy"] is None
    assert not (collection.parent / "digits.partial").exists()


def test_dd_ranking_export_is_added_with_checksums_that_are_checked(collection, saved_sets):
    assert not list(collection.glob("*/*/*.pt"))  # built (and committed) without it: it doubles the size
    add_dd_ranking_export(collection)
    entry = read_index(collection)["sets"]["random/ipc2"]
    assert set(entry["dd_ranking"]) == {"images.pt", "labels.pt"}
    folder = collection / "random" / "ipc2"
    images = torch.load(folder / "images.pt", weights_only=True)  # normalised, as DD-Ranking's evaluator trains on
    original = mgdd.SyntheticSet.load(saved_sets / "random" / "ipc2")
    assert torch.equal(images, original.images) and images.shape == (20, *original.image_shape)
    assert torch.equal(torch.load(folder / "labels.pt", weights_only=True), original.labels)
    verify_set(collection, "random/ipc2")
    torch.save(torch.zeros_like(images), folder / "images.pt")
    with pytest.raises(CorruptFileError, match="images.pt"):
        verify_set(collection, "random/ipc2")


def test_card_parses_and_its_table_matches_the_index(collection):
    from huggingface_hub import DatasetCard

    card = DatasetCard.load(collection / "README.md")
    assert card.data.license == "apache-2.0" and "dataset-distillation" in card.data.tags
    assert card.data.size_categories == ["n<1K"] and card.data.source_datasets == ["digits"]
    text = card.text
    assert "| random | 1 | 10 | hard | 41.50 ± 1.25 (3 x 300 epochs) | 0 | `random/ipc1` |" in text
    assert "| random | 2 | 20 | hard | — | 0 | `random/ipc2` |" in text
    assert "- `dm/ipc1`: not distilled yet: needs a long run" in text
    assert all(f"`{key}`" in text for key in read_index(collection)["sets"])


def test_a_tampered_or_missing_file_fails_the_checksum(collection):
    tensors = collection / "random" / "ipc1" / "synthetic.safetensors"
    data = bytearray(tensors.read_bytes())
    data[-1] ^= 0xFF
    tensors.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match="checksum"):
        mgdd.load_synthetic(collection, method="random", ipc=1)
    (collection / "random" / "ipc2" / "grid.png").unlink()
    with pytest.raises(FileNotFoundError, match="grid.png"):
        verify_set(collection, "random/ipc2")
    with pytest.raises(FileNotFoundError, match="not distilled yet"):
        verify_set(collection, "dm/ipc1")


def test_load_by_hub_id_from_the_offline_hub_cache(collection, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cache = tmp_path / "hub-cache"
    repo = cache / "datasets--me--digits-distilled"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    shutil.copy(collection / INDEX_FILE, snapshot / INDEX_FILE)
    shutil.copytree(collection / "herding" / "ipc1", snapshot / "herding" / "ipc1")  # only the chosen set
    loaded = mgdd.load_synthetic("me/digits-distilled", method="herding", ipc=1, cache_dir=cache)
    expected = mgdd.load_synthetic(collection, method="herding", ipc=1)
    assert torch.equal(loaded.images, expected.images) and loaded.metadata == expected.metadata
    with pytest.raises(ValueError, match="method= and ipc="):
        mgdd.load_synthetic("fashion-mnist", cache_dir=cache)
    with pytest.raises(ConnectionError, match="me/mnist-distilled"):
        mgdd.load_synthetic("me/mnist-distilled", method="dm", ipc=10, cache_dir=cache)


def test_a_set_of_another_dataset_is_refused(saved_sets, tmp_path):
    with pytest.raises(ValueError, match="not 'fashion-mnist'"):
        build_collection("fashion-mnist", find_sets(saved_sets), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_index_is_json_with_provenance(collection):
    entry = json.loads((collection / INDEX_FILE).read_text())["sets"]["herding/ipc1"]
    assert entry["distilled"]["seed"] == 0 and entry["distilled"]["options"]["feature_epochs"] == 0
    assert entry["distilled"]["seconds"] > 0
    assert entry["labels"] == "hard" and entry["images"] == 10


def test_release_pull_and_releases_from_the_command_line(saved_sets, tmp_path, capsys, monkeypatch):
    import huggingface_hub

    from mgdd.cli import main

    results = tmp_path / "results.json"
    results.write_text(json.dumps({
        "random/ipc1": {"method": "random", "ipc": 1, "mean": 40.0, "std": 0.5, "models": 3, "epochs": 300},
        "herding/ipc1/x": {"method": "herding", "ipc": 1, "mean": 99.0, "std": 0.0, "options": {"feature_epochs": 9}},
    }))
    uploads = []

    def upload_folder(self, **kw):  # what the upload would send: the files and index of the staged copy
        staged = Path(kw["folder_path"])
        uploads.append({**kw, "files": sorted(str(p.relative_to(staged)) for p in staged.rglob("*") if p.is_file()),
                        "index": read_index(staged)})
        return type("Info", (), {"commit_url": "url"})()

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", lambda self, repo_id, **kw: repo_id)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    assert main(["release", "--dataset", "digits", "--sets", str(saved_sets), "--results", str(results),
                 "--missing", "dm/ipc1=needs a GPU-length run", "--out", str(tmp_path / "rel"), "--push", "me"]) == 0
    collection = tmp_path / "rel" / "digits"
    index = read_index(collection)
    assert index["sets"]["random/ipc1"]["accuracy"]["mean"] == 40.0
    assert index["sets"]["herding/ipc1"]["accuracy"] is None  # a non-default run does not stand for the default
    assert index["missing"] == {"dm/ipc1": "needs a GPU-length run"}
    assert uploads[0]["repo_id"] == "me/digits-distilled" and uploads[0]["repo_type"] == "dataset"
    expected = {INDEX_FILE, "README.md"} | {f"{key}/{name}" for key in index["sets"]
                                            for name in (*SET_FILES, "images.pt", "labels.pt")}
    assert set(uploads[0]["files"]) == expected  # the Hub copy carries DD-Ranking's export ...
    assert uploads[0]["index"]["sets"]["random/ipc1"]["dd_ranking"]["images.pt"]
    assert not list(collection.glob("*/*/*.pt")) and read_index(collection) == index  # ... the local one is as built
    capsys.readouterr()
    assert main(["releases", str(collection)]) == 0
    listing = capsys.readouterr().out
    assert "random/ipc1" in listing and "40.00 ± 0.50" in listing and "missing: needs a GPU-length run" in listing
    assert main(["pull", str(collection), "--method", "random", "--ipc", "2", "--out", str(tmp_path / "got"),
                 "--dd-ranking"]) == 0
    original = mgdd.SyntheticSet.load(saved_sets / "random" / "ipc2").images
    assert torch.equal(mgdd.SyntheticSet.load(tmp_path / "got").images, original)
    assert torch.equal(torch.load(tmp_path / "got" / "images.pt", weights_only=True), original)
    assert main(["release", "--dataset", "digits", "--sets", str(saved_sets), "--out", str(tmp_path / "rel2"),
                 "--model", "mgdd-convnet-28"]) == 0
    from huggingface_hub import ModelCard

    model_dir = tmp_path / "rel2" / "models" / "mgdd-convnet-28"
    assert {"config.json", "model.safetensors", "README.md"} <= {p.name for p in model_dir.iterdir()}
    card = ModelCard.load(model_dir / "README.md")
    assert card.data.library_name == "mgdd" and card.data.eval_results  # the bundled model's measured results
    assert main(["release", "--dataset", "digits", "--sets", str(tmp_path / "none"), "--out", str(tmp_path)]) == 2
    assert "no saved sets" in capsys.readouterr().err


def test_the_committed_fashion_mnist_collection_loads_and_matches_its_card():
    """Every set of mgdd/releases/fashion-mnist/ passes its checksums and loads; its metadata and the card's table
    agree with the index."""
    from huggingface_hub import DatasetCard

    collection = Path(__file__).resolve().parents[1] / "mgdd" / "releases" / "fashion-mnist"
    index = read_index(collection)
    assert index["dataset"] == "fashion-mnist" and index["sets"]
    table = DatasetCard.load(collection / "README.md").text
    for key, entry in index["sets"].items():
        syn = mgdd.load_synthetic(collection, method=entry["method"], ipc=entry["ipc"])
        assert syn.metadata["method"] == entry["method"] and syn.ipc == entry["ipc"] and len(syn) == entry["images"]
        assert syn.metadata["dataset"] == "fashion-mnist" and syn.image_shape == (1, 28, 28)
        acc = entry["accuracy"]
        cell = f"{acc['mean']:.2f} ± {acc['std']:.2f}" if acc else "—"
        assert f"| {entry['method']} | {entry['ipc']} | {entry['images']} | {entry['labels']} | {cell}" in table
    for key in index["missing"]:
        assert f"`{key}`" in table


def test_accuracies_from_results_take_the_default_runs_and_the_largest_budget(tmp_path):
    from mgdd.release import accuracies_from_results

    first, second = tmp_path / "a.json", tmp_path / "b.json"
    first.write_text(json.dumps({
        "random/ipc10": {"method": "random", "ipc": 10, "mean": 76.0, "std": 0.4, "models": 3, "epochs": 300},
        "herding/ipc10/x": {"method": "herding", "ipc": 10, "mean": 99.0, "std": 0.1, "options": {"feature_epochs": 9}},
    }))
    second.write_text(json.dumps({  # time_to_accuracy's layout: one entry per budget, "accuracy"
        "ipc10/dm/1200": {"method": "dm", "ipc": 10, "rung": 1200, "accuracy": 80.9, "std": 0.2},
        "ipc10/dm/600": {"method": "dm", "ipc": 10, "rung": 600, "accuracy": 80.2, "std": 0.3},
        "ipc10/curve": {"start": "meta", "mean": 1.0},
    }))
    third = tmp_path / "c.json"
    third.write_text(json.dumps({  # SRe2L/DWA: a result per label protocol; SeqMatch: union and curriculum
        "ipc10 it1000 dwa": {"method": "dwa", "ipc": 10, "hard": {"mean": 70.0, "std": 0.5, "accuracies": [70.0]},
                             "relabel": {"mean": 84.0, "std": 0.2, "accuracies": [84.0]}, "models": 3, "epochs": 300},
        "ipc10 it60 seqmatch": {"method": "seqmatch", "ipc": 10, "evaluation": "union", "mean": 81.0, "std": 0.3},
        "ipc10 it60 seqmatch curriculum": {"method": "seqmatch", "ipc": 10, "evaluation": "curriculum", "mean": 79.0,
                                           "std": 0.3},
    }))
    found = accuracies_from_results([first, second, third])
    assert found["dwa/ipc10"]["mean"] == 70.0 and found["dwa/ipc10"]["relabel"] == {"mean": 84.0, "std": 0.2}
    assert found["seqmatch/ipc10"]["mean"] == 81.0  # the standard protocol, not the curriculum
    found = accuracies_from_results([first, second])
    assert set(found) == {"random/ipc10", "dm/ipc10"}
    assert found["dm/ipc10"]["mean"] == 80.9 and found["dm/ipc10"]["rung"] == 1200
    # budgets compare within one benchmark; a later benchmark's run of the method wins over any budget
    fourth = tmp_path / "d.json"
    fourth.write_text(json.dumps({"ipc10 it60 dm": {"method": "dm", "ipc": 10, "iterations": 60, "mean": 81.5,
                                                    "std": 0.1}}))
    found = accuracies_from_results([second, fourth])
    assert found["dm/ipc10"]["mean"] == 81.5 and found["dm/ipc10"]["iterations"] == 60
    assert accuracies_from_results([fourth, second])["dm/ipc10"]["mean"] == 80.9


def test_an_accuracy_measured_on_another_iteration_is_refused(digits_train, tmp_path):
    syn = mgdd.distill("dm", digits_train, 1, iterations=2, seed=0)
    assert syn.metadata["iteration"] == 2
    syn.save(tmp_path / "sets" / "dm" / "ipc1")
    sets = find_sets(tmp_path / "sets")
    with pytest.raises(ValueError, match="from iteration 2, but its accuracy was measured on a set of 5 iterations"):
        build_collection("digits", sets, tmp_path / "out", {"dm/ipc1": {"mean": 50.0, "std": 1.0, "iterations": 5}})
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()
    built = build_collection("digits", sets, tmp_path / "out", {"dm/ipc1": {"mean": 50.0, "std": 1.0, "iterations": 2, "models": 1, "epochs": 9}})
    assert read_index(built)["sets"]["dm/ipc1"]["accuracy"]["mean"] == 50.0


def test_card_gives_the_teacher_relabel_accuracy_beside_the_standard_one():
    from mgdd.release import render_collection_card

    entry = {"method": "dwa", "ipc": 10, "images": 100, "labels": "hard", "files": {},
             "accuracy": {"mean": 70.0, "std": 0.5, "models": 3, "epochs": 300,
                          "relabel": {"mean": 84.0, "std": 0.25}}}
    index = {"dataset": "fashion-mnist", "repo_id": "org/x", "sets": {"dwa/ipc10": entry}, "missing": {}}
    card = render_collection_card(index)
    assert "| dwa | 10 | 100 | hard | 70.00 ± 0.50 (3 x 300 epochs); teacher relabel: 84.00 ± 0.25 |" in card


def test_teacher_repository_card_and_loading_from_the_offline_hub_cache(tmp_path, monkeypatch):
    from huggingface_hub import ModelCard
    from huggingface_hub.repocard_data import model_index_to_eval_results

    from mgdd.cli import main
    from mgdd.release import build_teacher_repository
    from mgdd.teacher import CONFIG_FILE, DEFAULT_TEACHER, WEIGHTS_FILE, load_teacher, resolve_teacher

    folder = build_teacher_repository(DEFAULT_TEACHER, tmp_path / "models", repo_id="org/fm-teacher")
    assert folder == tmp_path / "models" / DEFAULT_TEACHER
    bundled = resolve_teacher(DEFAULT_TEACHER)
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        assert sha256(folder / name) == sha256(bundled / name)
    card = ModelCard.load(folder / "README.md")
    config = json.loads((bundled / CONFIG_FILE).read_text())
    name, results = model_index_to_eval_results(card.data.to_dict()["model-index"])
    assert name == DEFAULT_TEACHER and card.data.library_name == "mgdd" and card.data.datasets == ["fashion-mnist"]
    assert results[0].metric_value == config["test_accuracy"] and results[0].dataset_split == "test"
    assert 'teacher="org/fm-teacher"' in card.text
    # by Hub id, through a hand-built cache with the Hub offline (conftest.py)
    cache = tmp_path / "hub-cache"
    repo = cache / "models--org--fm-teacher"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    shutil.copytree(folder, repo / "snapshots" / COMMIT)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    from_hub, hub_config = load_teacher("org/fm-teacher")
    local = load_teacher(DEFAULT_TEACHER)[0]
    assert hub_config == config
    assert all(torch.equal(a, b) for a, b in zip(from_hub.state_dict().values(), local.state_dict().values()))
    # the release command builds it beside the generator's
    sets = tmp_path / "sets" / "random" / "ipc1"
    mgdd.load_synthetic(Path(__file__).resolve().parents[1] / "mgdd" / "releases" / "fashion-mnist", method="random",
                        ipc=1).save(sets)
    assert main(["release", "--dataset", "fashion-mnist", "--sets", str(tmp_path / "sets"), "--out",
                 str(tmp_path / "rel"), "--teacher", DEFAULT_TEACHER]) == 0
    assert sha256(tmp_path / "rel" / "models" / DEFAULT_TEACHER / WEIGHTS_FILE) == sha256(bundled / WEIGHTS_FILE)


def test_a_dataset_name_loads_the_shipped_collection_offline_in_under_two_seconds(monkeypatch):
    import socket
    import time

    def no_network(*args, **kwargs):
        raise AssertionError("load_synthetic reached for the network")

    monkeypatch.setattr(socket, "create_connection", no_network)
    started = time.perf_counter()
    syn = mgdd.load_synthetic("fashion-mnist", method="herding", ipc=10)
    assert time.perf_counter() - started < 2.0
    assert len(syn) == 100 and syn.metadata["method"] == "herding"
    assert mgdd.load_synthetic("fmnist", method="herding", ipc=10).fingerprint() == syn.fingerprint()


def test_offline_errors_come_at_once_and_name_what_to_pass(monkeypatch):
    import time

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.perf_counter()
    with pytest.raises(FileNotFoundError, match="ships no released collection for 'cifar10'"):
        mgdd.load_synthetic("cifar10", method="herding", ipc=10)
    with pytest.raises(FileNotFoundError, match="holds no frepo/ipc7"):
        mgdd.load_synthetic("fashion-mnist", method="frepo", ipc=7)
    with pytest.raises(ConnectionError, match="offline .* not in the local cache.*releases"):
        mgdd.load_synthetic("someone/not-cached-anywhere", method="herding", ipc=10)
    assert time.perf_counter() - started < 2.0  # no retries


def test_a_saved_set_with_flipped_bytes_is_refused(tmp_path):
    syn = mgdd.SyntheticSet(torch.randn(20, 1, 8, 8), torch.arange(10).repeat(2), 10, [str(c) for c in range(10)],
                            (0.5,), (0.25,))
    folder = syn.save(tmp_path / "set")
    file = folder / "synthetic.safetensors"
    data = bytearray(file.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 64] = bytes(b ^ 0xFF for b in data[middle:middle + 64])
    file.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match="does not match the sha256 recorded.*Download or distil the set again"):
        mgdd.SyntheticSet.load(folder)
