import os

# deterministic tests: compile in the foreground (calls after the capture run compiled code)
os.environ.setdefault("JITGRAD_ASYNC_COMPILE", "0")
# deterministic code: the serial/prange threshold is calibrate.DEFAULT, not a timing of the box
os.environ.setdefault("JITGRAD_CALIBRATE", "0")


def pytest_collection_modifyitems(config, items):
    """Start the selected background jobs (see tests/_background.py) right after collection."""
    from tests import _background

    selected = {it.nodeid for it in items}
    for name, (nodeid, _, _) in _background.JOBS.items():
        if nodeid in selected and not config.option.collectonly:
            _background.start(name)


def pytest_sessionfinish(session, exitstatus):
    from tests import _background

    _background.stop_all()
