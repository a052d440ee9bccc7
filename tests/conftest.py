"""Shared fixtures: a tiny model trained once per session on tests/data/tiny.csv."""
from __future__ import annotations

from pathlib import Path

import pytest
from postgres import db_url, postgres_server  # noqa: F401,E402 - the store's databases (SQLite file, real PostgreSQL)

DATA = Path(__file__).parent / "data"


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true", default=False, help="also run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--slow") or "slow" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="slow: run with --slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_csv() -> Path:
    return DATA / "tiny.csv"


@pytest.fixture(scope="session")
def parts():
    """The default registry, a segmenter built from it and the category display data."""
    from triage import paths
    from triage.registry import Registry
    from triage.train import build_segmenter, load_categories

    registry = Registry.from_csv(paths.UNITS_CSV)
    return registry, build_segmenter(registry), load_categories()


@pytest.fixture(scope="session")
def trained_dir(tmp_path_factory, tiny_csv) -> Path:
    """A model directory trained on the tiny corpus (no cross-validation, for speed)."""
    from triage.train import train_and_save

    out = tmp_path_factory.mktemp("model") / "tiny"
    train_and_save([tiny_csv], out, cv=0)
    return out


@pytest.fixture(scope="session")
def model(trained_dir):
    from triage import load_model

    return load_model(trained_dir)
