"""Shared fixtures. Real-data tests read NOISELENS_DATA_DIR; when it is set (or in CI) the data must be there."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.config import CACHE_DIR_ENV, DATA_DIR_ENV, PROJECT_ROOT

# The checkout's sibling folder holds the real data on the development machines and in CI.
_SIBLING_DATA = PROJECT_ROOT.parent / "shared" / "datasets"


def _resolve_data_dir() -> Path | None:
    configured = os.environ.get(DATA_DIR_ENV)
    if configured:  # absolute: a test that links to it from a temporary folder got a dangling relative link
        return Path(configured).resolve()
    if _SIBLING_DATA.is_dir():
        os.environ[DATA_DIR_ENV] = str(_SIBLING_DATA)
        return _SIBLING_DATA
    return None


DATA_DIR = _resolve_data_dir()


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The real MNIST / Fashion-MNIST folder; missing data fails when it was asked for, skips otherwise."""
    asked = bool(os.environ.get(DATA_DIR_ENV)) or os.environ.get("CI") == "true"
    if DATA_DIR is None or not (DATA_DIR / "mnist").is_dir() or not (DATA_DIR / "fashion-mnist").is_dir():
        message = f"real data not found at {DATA_DIR_ENV}={DATA_DIR}"
        if asked:
            pytest.fail(message + " (it was configured, so this is a failure, not a skip)")
        pytest.skip(message)
    return DATA_DIR


@pytest.fixture(scope="session")
def mnist(real_data_dir: Path):
    from core.data import load_dataset

    return load_dataset("mnist")


@pytest.fixture(scope="session")
def fashion(real_data_dir: Path):
    from core.data import load_dataset

    return load_dataset("fashion_mnist")


@pytest.fixture
def temp_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private model cache, so tests never touch the shipped models."""
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(autouse=True)
def fresh_wrong_key_budget():
    """Every test starts with the server's whole budget of wrong teacher keys (tests type wrong keys on purpose)."""
    from core.teacher_key import WRONG_KEYS

    WRONG_KEYS.clear()
    yield
    WRONG_KEYS.clear()
