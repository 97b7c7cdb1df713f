"""Shared fixtures. Tests never use the network: the Hub is forced offline before anything imports it.

Tests that compare a trained or optimised result with a fixed bound do it through ``check_bound``. With
``MGDD_MARGIN_LOG=FILE`` every such comparison is appended to FILE (one JSON line) instead of asserted, and
``MGDD_MARGIN_SEED=k`` shifts the seeds those tests draw from: ``benchmarks/test_margins.py`` runs them
over several seeds and thread counts and tabulates how far each value stays from its bound.
"""

from __future__ import annotations

import json
import operator
import os

# huggingface_hub reads these once, at import time: set them before anything can import it.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
# selection features cached on disk go to a folder of this test session, not the user's cache
os.environ["MGDD_FEATURE_CACHE"] = __import__("tempfile").mkdtemp(prefix="mgdd-feature-cache-")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

# The suite's networks are tiny: one thread is as fast and never oversubscribes a shared CPU. CI runs the
# suite again with MGDD_TEST_THREADS=2, so that a result depending on the thread count fails there.
torch.set_num_threads(int(os.environ.get("MGDD_TEST_THREADS", "1")))

_COMPARISONS = {"<": operator.lt, ">": operator.gt}


def pytest_configure(config):
    config.addinivalue_line("markers", "bound: compares a trained or optimised result with a fixed bound")


def pytest_collection_modifyitems(items):
    for item in items:  # every user of check_bound is selectable with -m bound
        if "check_bound" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.bound)


@pytest.fixture(scope="session")
def margin_seed() -> int:
    """Offset added to the seeds of bound-checking tests (0 unless the margin study sets it)."""
    return int(os.environ.get("MGDD_MARGIN_SEED", "0"))


@pytest.fixture
def check_bound(request, margin_seed):
    """``check_bound(name, value, "<" or ">", bound)``: assert, and log the comparison for the margin study."""

    def check(name: str, value: float, relation: str, bound: float) -> None:
        value, bound = float(value), float(bound)
        log = os.environ.get("MGDD_MARGIN_LOG")
        if log:
            entry = {"test": request.node.nodeid, "name": name, "value": value, "relation": relation,
                     "bound": bound, "seed": margin_seed, "threads": torch.get_num_threads()}
            with open(log, "a") as handle:
                handle.write(json.dumps(entry) + "\n")
            return  # the study records every comparison of a test, also those after one that fails
        assert _COMPARISONS[relation](value, bound), f"{name}: {value:.6g} is not {relation} {bound:.6g}"

    return check

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_FILES = (
    "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
)


def fashion_mnist_present() -> bool:
    return all(
        (FASHION_MNIST_DIR / name).is_file() or (FASHION_MNIST_DIR / f"{name}.gz").is_file()
        for name in FASHION_MNIST_FILES
    )


def _load_fashion_mnist(split: str):
    if not fashion_mnist_present():
        pytest.skip(f"Fashion-MNIST is not installed in {FASHION_MNIST_DIR}")
    from mgdd.data import load_dataset

    # root=None: the system directory is searched; download=False: never touch the network.
    return load_dataset("fashion-mnist", split, download=False)


@pytest.fixture(scope="session")
def fmnist_train():
    return _load_fashion_mnist("train")


@pytest.fixture(scope="session")
def fmnist_test():
    return _load_fashion_mnist("test")


@pytest.fixture(scope="session")
def digits_train():
    from mgdd.data import load_dataset

    return load_dataset("digits", "train")


@pytest.fixture(scope="session")
def digits_test():
    from mgdd.data import load_dataset

    return load_dataset("digits", "test")
