"""Fixtures for the reliability suite; helpers live in ``_util.py``."""

import os

import pytest

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("JITGRAD_ASYNC_COMPILE", "0")  # call 3 of a traced step runs compiled
os.environ.setdefault("JITGRAD_CACHE_DIR", os.path.join(_ROOT, ".jitgrad_cache", "tests"))


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """An empty JITGRAD_CACHE_DIR for one test."""
    d = tmp_path / "cache"
    monkeypatch.setenv("JITGRAD_CACHE_DIR", str(d))
    return d
