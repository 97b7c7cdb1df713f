"""The installed package's version (one source: pyproject.toml), importable by any module without the package's
``__init__`` (which stands above every module)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mgdd")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
