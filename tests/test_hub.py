"""Loading synthetic sets from folders and from the Hugging Face Hub cache, and pushing to the Hub.

Nothing here touches the network: conftest.py sets HF_HUB_OFFLINE=1 before huggingface_hub is imported,
the Hub cache is built by hand, and the upload calls are replaced by fakes.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from mgdd import SyntheticSet, load_synthetic
from mgdd.synthetic import GRID_FILE, METADATA_FILE, TENSOR_FILE

REPO_ID = "org/distilled-test"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _set(ipc: int = 1, seed: int = 0, method: str = "random") -> SyntheticSet:
    gen = torch.Generator().manual_seed(seed)
    images = torch.randn(2 * ipc, 1, 6, 6, generator=gen)
    labels = torch.arange(2).repeat_interleave(ipc)
    return SyntheticSet(images, labels, 2, ["left", "right"], (0.25,), (0.5,), learned_lr=0.02 if seed else None,
                        metadata={"method": method, "dataset": "toy-dataset", "ipc": ipc, "seed": seed})


def _assert_same(a: SyntheticSet, b: SyntheticSet) -> None:
    assert a.images.dtype == b.images.dtype and torch.equal(a.images, b.images)
    assert a.labels.dtype == b.labels.dtype and torch.equal(a.labels, b.labels)
    assert (a.num_classes, a.class_names, a.mean, a.std) == (b.num_classes, b.class_names, b.mean, b.std)
    assert a.learned_lr == b.learned_lr
    assert a.metadata == b.metadata


def test_hub_is_offline_in_tests() -> None:
    import huggingface_hub.constants

    assert huggingface_hub.constants.HF_HUB_OFFLINE is True
    assert huggingface_hub.constants.is_offline_mode()


# ================================================================= local folders
def test_load_synthetic_from_local_folder(tmp_path: Path) -> None:
    syn = _set(seed=1)
    syn.save(tmp_path / "one")
    _assert_same(syn, load_synthetic(tmp_path / "one"))
    _assert_same(syn, load_synthetic(str(tmp_path / "one")))
    _assert_same(syn, load_synthetic(tmp_path / "one" / TENSOR_FILE))


def test_load_synthetic_from_local_collection(tmp_path: Path) -> None:
    ipc10, ipc1 = _set(ipc=10, seed=2, method="mgdd"), _set(ipc=1, seed=3, method="mgdd")
    ipc10.save(tmp_path / "mgdd" / "ipc10")
    ipc1.save(tmp_path / "mgdd" / "ipc1")
    _assert_same(ipc10, load_synthetic(tmp_path, method="mgdd", ipc=10))
    _assert_same(ipc1, load_synthetic(tmp_path, method="MGDD", ipc=1))  # method names are case-insensitive
    with pytest.raises(FileNotFoundError):
        load_synthetic(tmp_path, method="mgdd", ipc=50)  # not in the collection


@pytest.mark.parametrize("kwargs", [{"method": "mgdd"}, {"ipc": 10}])
def test_method_and_ipc_go_together(tmp_path: Path, kwargs: dict) -> None:
    _set().save(tmp_path)
    with pytest.raises(ValueError, match="method= and ipc="):
        load_synthetic(tmp_path, **kwargs)


def test_neither_path_nor_hub_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for bad in ("no_such_thing", "a/b/c", "./org/name"):
        with pytest.raises(FileNotFoundError, match="neither an existing path"):
            load_synthetic(bad)


# ================================================================= offline Hub cache
@pytest.fixture()
def hub_cache(tmp_path: Path) -> tuple[Path, SyntheticSet]:
    """A huggingface_hub cache holding dataset repo org/distilled-test with random/ipc1/ at commit COMMIT."""
    cache = tmp_path / "hub-cache"
    repo = cache / "datasets--org--distilled-test"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)  # no trailing newline: huggingface_hub reads it verbatim
    syn = _set(seed=5)
    syn.save(repo / "snapshots" / COMMIT / "random" / "ipc1")
    return cache, syn


def test_load_from_offline_hub_cache(hub_cache) -> None:
    cache, syn = hub_cache
    loaded = load_synthetic(REPO_ID, method="random", ipc=1, cache_dir=cache)
    _assert_same(syn, loaded)
    # a pinned commit resolves without the refs file
    _assert_same(syn, load_synthetic(REPO_ID, method="random", ipc=1, cache_dir=str(cache), revision=COMMIT))


def test_hub_set_not_in_cached_snapshot(hub_cache) -> None:
    cache, _ = hub_cache
    with pytest.raises(FileNotFoundError, match="random/ipc10"):
        load_synthetic(REPO_ID, method="random", ipc=10, cache_dir=cache)


def test_hub_repo_absent_from_cache(hub_cache) -> None:
    cache, _ = hub_cache
    with pytest.raises(ConnectionError, match="not in the local cache") as info:
        load_synthetic("org/not-cached", method="random", ipc=1, cache_dir=cache)
    assert "org/not-cached" in str(info.value)


# ================================================================= push_to_hub (network calls faked)
@pytest.fixture()
def fake_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    import huggingface_hub

    record = SimpleNamespace(create_repo=[], upload_folder=[], uploads=[])

    def create_repo(self, repo_id, **kwargs):
        record.create_repo.append({"repo_id": repo_id, **kwargs})
        return f"https://huggingface.co/datasets/{repo_id}"

    def upload_folder(self, **kwargs):
        record.upload_folder.append(kwargs)
        copy = tmp_path / f"uploaded{len(record.uploads)}"
        shutil.copytree(kwargs["folder_path"], copy)  # the real folder is deleted when push_to_hub returns
        record.uploads.append(copy)
        return SimpleNamespace(commit_url=f"https://huggingface.co/datasets/{kwargs['repo_id']}/commit/{COMMIT}")

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    return record


def test_push_to_hub(fake_hub: SimpleNamespace) -> None:
    syn = _set(ipc=3, seed=7, method="mgdd")
    url = syn.push_to_hub("me/fmnist-distilled", path_in_repo="mgdd/ipc3", private=True)
    assert url == f"https://huggingface.co/datasets/me/fmnist-distilled/commit/{COMMIT}"

    assert len(fake_hub.create_repo) == 1
    created = fake_hub.create_repo[0]
    assert created["repo_id"] == "me/fmnist-distilled"
    assert created["repo_type"] == "dataset"
    assert created["private"] is True
    assert created["exist_ok"] is True

    assert len(fake_hub.upload_folder) == 1
    upload = fake_hub.upload_folder[0]
    assert upload["repo_id"] == "me/fmnist-distilled"
    assert upload["repo_type"] == "dataset"
    assert upload["path_in_repo"] == "mgdd/ipc3"
    assert "mgdd" in upload["commit_message"]
    assert not Path(upload["folder_path"]).exists()  # the temporary folder is gone

    folder = fake_hub.uploads[0]
    assert sorted(p.name for p in folder.iterdir()) == sorted([TENSOR_FILE, METADATA_FILE, GRID_FILE, "README.md"])
    _assert_same(syn, SyntheticSet.load(folder))
    assert 'load_synthetic("me/fmnist-distilled", method="mgdd", ipc=3)' in (folder / "README.md").read_text()


def test_push_to_hub_dataset_card(fake_hub: SimpleNamespace) -> None:
    from huggingface_hub import DatasetCard

    syn = _set(ipc=2, seed=0, method="herding")
    syn.push_to_hub("me/cards", commit_message="my message")
    assert fake_hub.upload_folder[0]["path_in_repo"] is None
    assert fake_hub.upload_folder[0]["commit_message"] == "my message"
    text = (fake_hub.uploads[0] / "README.md").read_text(encoding="utf-8")
    assert text.startswith("---\n")
    card = DatasetCard(text)  # parses the YAML header
    assert card.data.task_categories == ["image-classification"]
    assert card.data.license == "apache-2.0"
    assert "dataset-distillation" in card.data.tags
    body = card.text
    assert "herding" in body and "toy-dataset" in body
    assert "| images per class | 2 |" in body
    assert "| labels | hard |" in body
    assert "1x6x6" in body
    assert 'load_synthetic("me/cards")' in body
    assert not re.search(r"\{[a-z_]+\}", text)  # every template field filled in


def test_push_to_a_folder_or_offline_says_what_to_do(tmp_path, monkeypatch):
    import mgdd
    from mgdd.generator.meta import MetaGenerator

    syn = mgdd.distill("random", mgdd.load_dataset("digits"), 1)
    with pytest.raises(ValueError, match="not a Hub repo id"):
        syn.push_to_hub(str(tmp_path / "local" / "folder" / "x"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ConnectionError, match="offline"):
        MetaGenerator.from_pretrained().push_to_hub("someone/model", token="x")


def test_model_card_carries_a_model_index_of_the_measured_results(tmp_path: Path) -> None:
    from huggingface_hub import ModelCard

    from mgdd.generator.meta import MetaGenerator

    gen = MetaGenerator(width=8, code_dim=8, blocks=1, feature_width=16)
    gen.provenance["evaluations"] = [
        {"dataset": "fashion-mnist", "ipc": 1, "mean": 72.363, "std": 0.83, "models": 3, "epochs": 300},
        {"dataset": "fashion-mnist", "ipc": 10, "mean": 80.62, "std": 0.25, "models": 3, "epochs": 300}]
    gen.save_pretrained(tmp_path / "m", model_card_kwargs={"repo_id": "me/mgdd-test"})
    card = ModelCard.load(tmp_path / "m" / "README.md")
    assert card.data.library_name == "mgdd" and card.data.datasets == ["fashion-mnist"]
    assert "dataset-distillation" in card.data.tags and card.data.model_name == "me/mgdd-test"
    results = {r.dataset_name: r.metric_value for r in card.data.eval_results}
    assert results == {"fashion-mnist, IPC 1": 72.36, "fashion-mnist, IPC 10": 80.62}
    assert "model-index" in (tmp_path / "m" / "README.md").read_text()
