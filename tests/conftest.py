import os

# deterministic tests: compile in the foreground (calls after the capture run compiled code)
os.environ.setdefault("JITGRAD_ASYNC_COMPILE", "0")
# deterministic code: the serial/prange threshold is calibrate.DEFAULT, not a timing of the box
os.environ.setdefault("JITGRAD_CALIBRATE", "0")
