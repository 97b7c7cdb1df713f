"""Shared fixtures. Tests never use the network: the Hub is forced offline before anything imports it."""

from __future__ import annotations

import os

# huggingface_hub reads these once, at import time: set them before anything can import it.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

# The suite's networks are tiny: one thread is as fast and never oversubscribes a shared CPU.
torch.set_num_threads(1)

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
