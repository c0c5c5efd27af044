import os

import pytest

# deterministic tests: compile in the foreground (calls after the capture run compiled code)
os.environ.setdefault("JITGRAD_ASYNC_COMPILE", "0")
# deterministic code: the serial/prange threshold is calibrate.DEFAULT, not a timing of the box
os.environ.setdefault("JITGRAD_CALIBRATE", "0")


@pytest.hookimpl(trylast=True)  # after -k/-m deselection
def pytest_collection_modifyitems(config, items):
    """Plan and start the background jobs (see tests/_background.py) right after collection."""
    from tests import _background

    if config.option.collectonly:
        return
    if _background.plan(items, lambda moved: config.hook.pytest_deselected(items=moved)):
        _background.start()


def pytest_sessionfinish(session, exitstatus):
    from tests import _background

    _background.stop_all()


def pytest_terminal_summary(terminalreporter):
    from tests import _background

    for line in _background.summary():
        terminalreporter.write_line(line)
