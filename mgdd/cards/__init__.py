"""Model and dataset cards, rendered from the markdown templates shipped beside this file."""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..synthetic import SyntheticSet


def read_template(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def render_template(name: str, **fields: Any) -> str:
    return read_template(name).format(**{k: ("n/a" if v is None else v) for k, v in fields.items()})


def render_synthetic_card(syn: "SyntheticSet", repo_id: str, path_in_repo: str | None = None) -> str:
    """Dataset card (README.md) for a synthetic set on the Hub."""
    meta = syn.metadata
    load_args = f'"{repo_id}"'
    if path_in_repo and path_in_repo.count("/") == 1 and path_in_repo.split("/")[1].startswith("ipc"):
        method, ipc = path_in_repo.split("/")
        load_args += f', method="{method}", ipc={ipc[3:]}'
    return render_template(
        "synthetic_set.md",
        title=f"{meta.get('method', 'synthetic')} — {meta.get('dataset', 'dataset')}, IPC {syn.ipc}",
        method=meta.get("method"), dataset=meta.get("dataset"), ipc=syn.ipc, num_images=len(syn),
        image_shape="x".join(map(str, syn.image_shape)), label_kind="soft" if syn.soft_labels else "hard",
        arch=meta.get("arch"), seed=meta.get("seed"), wall_time=meta.get("wall_time"),
        version=meta.get("mgdd_version"), load_args=load_args,
        mean=[round(m, 4) for m in syn.mean], std=[round(s, 4) for s in syn.std],
    )
