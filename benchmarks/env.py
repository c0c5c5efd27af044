"""Thread counts and environment: set before NumPy, numba, torch or jax are imported."""

import os
import platform

THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMBA_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
# Runtime policy knobs of OpenMP/BLAS/threading layers. The harness never sets them: each
# peer runs in its own default configuration with only the thread count pinned (a passive
# wait policy once made torch eager 3x slower here and flattered jitgrad). jitgrad's own
# choices for its numba loops live in jitgrad. Values already in the user's environment
# are left alone and reported in the header.
POLICY_VARS = (
    "OMP_WAIT_POLICY",
    "OMP_PROC_BIND",
    "OMP_PLACES",
    "OMP_DYNAMIC",
    "OMP_SCHEDULE",
    "GOMP_SPINCOUNT",
    "KMP_BLOCKTIME",
    "KMP_AFFINITY",
    "OPENBLAS_CORETYPE",
    "OPENBLAS_VERBOSE",
    "MKL_DYNAMIC",
    "MKL_ENABLE_INSTRUCTIONS",
    "NUMBA_THREADING_LAYER",
    "XLA_FLAGS",
)
REPORTED_VARS = THREAD_VARS + POLICY_VARS + ("JITGRAD_CACHE_DIR",)
# what ``configure`` may set besides the thread counts: jitgrad's compile mode (blocking
# compiles, so compiled code is what gets timed) and TensorFlow/XLA log noise
HARNESS_VARS = ("JITGRAD_ASYNC_COMPILE", "TF_CPP_MIN_LOG_LEVEL")


def configure(threads):
    """Give every library the same number of threads (call before importing any of them);
    nothing else about their threading changes."""
    for var in THREAD_VARS:
        os.environ[var] = str(threads)
    # measure compiled code and blocking compile latency, not eager calls made while
    # jitgrad.trace compiles in the background (its default for users)
    os.environ.setdefault("JITGRAD_ASYNC_COMPILE", "0")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # XLA sizes its CPU thread pool from the cores it may run on: pin the process to
    # ``threads`` cores so jax.jit sees the same count as everyone else.
    try:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) > threads:
            os.sched_setaffinity(0, cpus[:threads])
    except (AttributeError, OSError):
        pass


def machine():
    """One-line description of the machine (CPU model, cores, memory)."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
        mem = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    try:
        ncpu = len(os.sched_getaffinity(0))
    except AttributeError:
        ncpu = os.cpu_count()
    return (
        f"{model}, {os.cpu_count()} logical CPUs ({ncpu} usable by this run){mem}, "
        f"{platform.system()} {platform.release()}"
    )


def reported_env():
    """The thread and policy variables in effect (for the header)."""
    return {k: os.environ[k] for k in REPORTED_VARS if k in os.environ}


def policy_env():
    """The OpenMP/BLAS policy variables set right now (the harness sets none)."""
    return {k: os.environ[k] for k in POLICY_VARS if k in os.environ}
