import os

# deterministic tests: compile in the foreground (calls after the capture run compiled code)
os.environ.setdefault("JITGRAD_ASYNC_COMPILE", "0")
