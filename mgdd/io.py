"""Atomic file writes and safe reading of safetensors files (no pickle anywhere)."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

BUNDLED_DIR = Path(__file__).resolve().parent / "pretrained"  # weights shipped with the package


def bundled_names(weights_file: str) -> list[str]:
    """Names of the bundled checkpoints (folders of :data:`BUNDLED_DIR`) that hold ``weights_file``."""
    if not BUNDLED_DIR.is_dir():
        return []
    return sorted(p.name for p in BUNDLED_DIR.iterdir() if (p / weights_file).is_file())


_HUB_HOST = ("huggingface.co", 443)
_hub_reachable: bool | None = None


def hub_online(timeout: float = 2.0) -> bool:
    """Whether the Hugging Face Hub can be reached: False at once under ``HF_HUB_OFFLINE``, else one TCP connect
    (``timeout`` seconds, asked once per process), so that an offline machine never waits on retries."""
    global _hub_reachable
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return False
    if _hub_reachable is None:
        import socket

        try:
            socket.create_connection(_HUB_HOST, timeout=timeout).close()
            _hub_reachable = True
        except OSError:
            _hub_reachable = False
    return _hub_reachable


def sha256(path: str | os.PathLike) -> str:
    """The file's sha256 (hex), read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class CorruptFileError(ValueError):
    """A file exists but cannot be read: truncated, corrupt or of the wrong kind."""


@contextmanager
def hub_upload_errors(repo_id: str) -> Iterator[None]:
    """huggingface_hub's repo-id and offline errors during an upload, as one clear message each."""
    from huggingface_hub.errors import HFValidationError, OfflineModeIsEnabled

    try:
        yield
    except HFValidationError as error:
        raise ValueError(f"{repo_id!r} is not a Hub repo id ('org/name'); to write to a local folder use "
                         "save() / save_pretrained() instead of push_to_hub()") from error
    except OfflineModeIsEnabled as error:
        raise ConnectionError(f"cannot push {repo_id!r}: huggingface_hub is offline (HF_HUB_OFFLINE); unset it and "
                              "log in (huggingface-cli login), or save to a folder") from error


def push_folder(
    folder: str | os.PathLike, repo_id: str, repo_type: str, commit_message: str, path_in_repo: str | None = None,
    private: bool = False, token: str | None = None,
) -> str:
    """Upload ``folder`` to the Hub repository ``repo_id`` (created if needed); the commit URL."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    with hub_upload_errors(repo_id):
        api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
        info = api.upload_folder(repo_id=repo_id, repo_type=repo_type, folder_path=str(folder),
                                 path_in_repo=path_in_repo, commit_message=commit_message)
    return str(getattr(info, "commit_url", info))


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename.

    Whatever was at ``path`` before stays intact if the write fails half-way.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600 files; keep normal permissions
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: str | os.PathLike, obj: object) -> None:
    write_text_atomic(path, json_text(obj) + "\n")


def json_text(obj: object, level: int = 0) -> str:
    """JSON indented by 2 with sorted keys, but a list of plain values on one line (500 class indices are one
    line, not 500)."""
    pad, inner = "  " * level, "  " * (level + 1)
    if isinstance(obj, dict) and obj:
        items = [f"{inner}{json.dumps(str(k))}: {json_text(v, level + 1)}" for k, v in sorted(obj.items())]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(obj, (list, tuple)) and obj and any(isinstance(v, (dict, list, tuple)) for v in obj):
        return "[\n" + ",\n".join(f"{inner}{json_text(v, level + 1)}" for v in obj) + f"\n{pad}]"
    return json.dumps(obj)


def save_figure_atomic(fig, path: str | os.PathLike, dpi: int = 120) -> None:
    """Save a matplotlib figure as PNG atomically and close it."""
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)


def save_tensors_atomic(
    path: str | os.PathLike, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None
) -> None:
    """Write ``tensors`` as safetensors (contiguous CPU copies) atomically."""
    cpu = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(cpu, str(tmp), metadata=metadata)


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The header metadata of a safetensors file, without reading its tensors (errors as :func:`load_tensors`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise CorruptFileError(f"{path} is truncated or not a valid safetensors file ({error})") from error


def load_tensors(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Read every tensor and the header metadata of a safetensors file.

    Raises FileNotFoundError for a missing file and CorruptFileError for one that cannot be parsed.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = dict(f.metadata() or {})
            tensors = {key: f.get_tensor(key) for key in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise CorruptFileError(f"{path} is truncated or not a valid safetensors file ({error})") from error
    return tensors, metadata
