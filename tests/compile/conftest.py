import os

import pytest

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("JITGRAD_CACHE_DIR", os.path.join(_ROOT, ".jitgrad_cache", "tests"))


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """An empty cache directory for tests about caching."""
    monkeypatch.setenv("JITGRAD_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"
