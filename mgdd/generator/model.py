"""`GeneratorModel`: MGDD's conditional generator as the Hub holds it (weights + architecture-only config).

Provenance (how the weights were meta-trained, what they measured) is not configuration: it lives in
the model card (``README.md``), in its YAML header under ``mgdd_provenance`` for machines and in its
text for people; the measured results are written once, as the card's "Measured results" section, and read back
from there. The adapt / generate pipeline is :class:`mgdd.generator.meta.MetaGenerator`.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from pathlib import Path
from typing import Any

from huggingface_hub import ModelCard, PyTorchModelHubMixin
from torch import nn

from ..cards import read_template
from ..io import BUNDLED_DIR, bundled_names, write_text_atomic
from ..ridge import DEFAULT_LABEL_RIDGE, DEFAULT_RIDGE
from .network import ConditionalGenerator

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "mgdd-convnet-28"
PROVENANCE_KEY = "mgdd_provenance"
CARD_FILE = "README.md"
RESULTS_HEADING = "## Measured results"  # the card template's section holding provenance["results"]
NO_RESULTS = "No figures recorded"


def model_index_entry(evaluation: dict) -> Any:
    """One ``model-index`` result: the accuracy of the protocol's ConvNet trained on a generated set.
    ``evaluation``: dataset, ipc, mean, std, models, epochs (as ``benchmarks/model_card_results.py`` stores it)."""
    from huggingface_hub import EvalResult

    return EvalResult(
        task_type="image-classification", task_name="Dataset distillation",
        dataset_type=evaluation["dataset"], dataset_name=f"{evaluation['dataset']}, IPC {evaluation['ipc']}",
        dataset_config=f"ipc{evaluation['ipc']}",  # the config keeps the sizes apart in the model-index
        dataset_split="test", metric_type="accuracy", metric_value=round(evaluation["mean"], 2),
        metric_name=(f"ConvNet-3 accuracy on a generated set of IPC {evaluation['ipc']} "
                     f"({evaluation['models']} models x {evaluation['epochs']} epochs, ± {evaluation['std']:.2f})"),
    )


class GeneratorModel(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="mgdd",
    tags=["dataset-distillation", "mgdd"],
    license="apache-2.0",
    model_card_template=read_template("meta_generator.md"),
):
    """The generator's weights and the configuration that defines its function.

    ``feature_arch``/``feature_width``: the feature network family its guidance and labels come from;
    ``ridge``/``label_ridge``: the ridges of the least-squares solves it was trained with; ``unroll``:
    guided generator steps per call; ``clamp_output``: generated pixels kept within the real data's range
    (a model trained without the clamp keeps ``False``: clamping its output afterwards costs accuracy).
    ``provenance`` (a dict, saved in the card) says where it came from.
    """

    def __init__(
        self,
        channels: int = 1,
        width: int = 32,
        code_dim: int = 64,
        blocks: int = 3,
        feature_arch: str = "ConvNet",
        feature_width: int = 128,
        ridge: float = DEFAULT_RIDGE,
        label_ridge: float = DEFAULT_LABEL_RIDGE,
        unroll: int = 1,
        clamp_output: bool = True,
    ) -> None:
        super().__init__()
        self.config = {"channels": channels, "width": width, "code_dim": code_dim, "blocks": blocks,
                       "feature_arch": feature_arch, "feature_width": feature_width, "ridge": ridge,
                       "label_ridge": label_ridge, "unroll": unroll, "clamp_output": clamp_output}
        self.channels, self.feature_arch, self.feature_width = channels, feature_arch, feature_width
        self.ridge, self.label_ridge, self.unroll, self.clamp_output = ridge, label_ridge, unroll, clamp_output
        self.generator = ConditionalGenerator(channels, width, code_dim, blocks)
        self.provenance: dict[str, Any] = {}

    def generate_model_card(self, *args: Any, **kwargs: Any) -> ModelCard:
        """The card rendered from ``mgdd/cards/meta_generator.md``, with the provenance in text and in its header."""
        training = self.provenance.get("meta_training")
        if training and "training" not in kwargs:
            kwargs["training"] = (
                f"Meta-trained for {training.get('completed_steps')} steps ({training.get('seconds')} s) on "
                f"{', '.join(training.get('sources', []))}; tasks of {training.get('min_classes')}-"
                f"{training.get('max_classes')} classes at IPC {training.get('ipcs')}. None of these sources "
                "overlaps Fashion-MNIST, the benchmark target."
            )
        if self.provenance.get("results") and "results" not in kwargs:
            kwargs["results"] = self.provenance["results"]
        card = super().generate_model_card(*args, **kwargs)
        header = {k: v for k, v in self.provenance.items() if k != "results"}  # the results text is the card's body
        if header:  # through JSON: plain types only in the YAML header (tuples become lists)
            setattr(card.data, PROVENANCE_KEY, json.loads(json.dumps(header)))
        evaluations = self.provenance.get("evaluations")
        if evaluations:  # the measured accuracies as the Hub's model-index
            card.data.model_name = kwargs.get("repo_id") or DEFAULT_MODEL
            card.data.datasets = sorted({e["dataset"] for e in evaluations})
            card.data.eval_results = [model_index_entry(e) for e in evaluations]
        return card

    def save_pretrained(self, save_directory: str | Path, *, model_card_kwargs: dict | None = None,
                        **kwargs: Any) -> Any:
        """Weights, config and card (``push_to_hub=True`` uploads them). The card is written first: the mixin
        keeps an existing README.md, and this one carries the current provenance."""
        folder = Path(save_directory)
        folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(folder / CARD_FILE, str(self.generate_model_card(**(model_card_kwargs or {}))))
        return super().save_pretrained(folder, model_card_kwargs=model_card_kwargs, **kwargs)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path = DEFAULT_MODEL, **kwargs: Any):
        """Load the bundled default by name, a local directory, or a Hub id (strict key check, eval mode)."""
        name = str(pretrained_model_name_or_path)
        bundled = BUNDLED_DIR / name
        source: str | Path = bundled if bundled.is_dir() else pretrained_model_name_or_path
        local = Path(source)
        if local.exists() and not (local / "model.safetensors").is_file():
            raise FileNotFoundError(f"{local} holds no model.safetensors")
        if not local.exists() and name.count("/") != 1:
            raise FileNotFoundError(
                f"{name!r} is not a bundled model ({', '.join(bundled_models()) or 'none'}), "
                "an existing directory, or a Hub id of the form 'org/name'"
            )
        kwargs.setdefault("strict", True)
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # huggingface_hub prints on every local load
                model = super().from_pretrained(source, **kwargs)
            logger.debug("loaded generator weights from %s", source)
        except RuntimeError as error:  # load_state_dict: missing / unexpected / mis-shaped keys
            raise ValueError(f"weights at {source} do not match their config: {error}") from error
        except Exception as error:
            _raise_clear_load_error(name, local, error)
        model.provenance = read_provenance(local if local.exists() else None, name, kwargs)
        return model.eval()


def read_provenance(local: Path | None, repo_id: str, hub_kwargs: dict[str, Any]) -> dict[str, Any]:
    """The ``mgdd_provenance`` of a checkpoint's card ({} when it has no card or none there)."""
    card_path = local / CARD_FILE if local is not None else None
    if local is None:
        from huggingface_hub import hf_hub_download

        options = {k: hub_kwargs[k] for k in ("revision", "cache_dir", "token", "local_files_only") if k in hub_kwargs}
        try:
            card_path = Path(hf_hub_download(repo_id, CARD_FILE, **options))
        except Exception:  # a card is optional; the weights are already loaded
            return {}
    if card_path is None or not card_path.is_file():
        return {}
    card = ModelCard.load(card_path)
    provenance = dict(card.data.to_dict().get(PROVENANCE_KEY) or {})
    results = card_section(card.text, RESULTS_HEADING)
    if results and not results.startswith(NO_RESULTS):
        provenance["results"] = results
    return provenance


def card_section(text: str, heading: str) -> str | None:
    """The text under a ``## heading`` of a card, up to the next heading of that level (None: no such section)."""
    _, found, rest = text.partition(f"\n{heading}\n")
    if not found:
        return None
    return rest.split("\n## ", 1)[0].strip()


def bundled_models() -> list[str]:
    """Names of the models shipped inside the package."""
    return bundled_names("model.safetensors")


def _raise_clear_load_error(name: str, local: Path, error: Exception) -> None:
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError, RepositoryNotFoundError
    from safetensors import SafetensorError

    if isinstance(error, SafetensorError):
        raise ValueError(f"weight file of {name!r} is truncated or corrupt ({error})") from error
    if isinstance(error, (LocalEntryNotFoundError,)) or "offline" in str(error).lower():
        raise ConnectionError(
            f"cannot download {name!r}: no network and not in the local cache. "
            f"The bundled default {DEFAULT_MODEL!r} works offline."
        ) from error
    if isinstance(error, (RepositoryNotFoundError, EntryNotFoundError)):
        raise FileNotFoundError(f"{name!r} is not a bundled model, a local directory or a Hub model") from error
    raise error
