import os

# The suite never touches the network and runs on one torch thread: on the 2-core CI machine, tests that each
# spin two threads fight over the cores (measured: the same suite 3 min 38 s with one thread, 15 min 47 s with
# the default on a loaded machine). A test that needs more threads sets them itself.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import torch  # noqa: E402  (after OMP_NUM_THREADS, which torch reads when it starts its thread pool)

torch.set_num_threads(1)
