"""Two CPU processes (gloo) train the tiny config through `accelerate launch` and end with identical weights.

`accelerate launch --cpu` starts a single process (multi-CPU there means mpirun); `--multi_gpu` starts
torch.distributed.run, and the trainer's `Accelerator(cpu=True)` turns that into MULTI_CPU with gloo.
"""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from animatex.training.train import build_model

ROOT = Path(__file__).resolve().parents[2]

RANK_SCRIPT = """
import hashlib, json, sys
from accelerate import PartialState
from animatex.training.config import load_config
from animatex.training.train import train

config = load_config(sys.argv[1], json.loads(sys.argv[2]))
result = train(config, sys.argv[3], progress=False)
state = PartialState()
digest = hashlib.sha256()
for name in sorted(result.params):
    digest.update(name.encode())
    digest.update(result.params[name].detach().cpu().contiguous().numpy().tobytes())
with open(f"{sys.argv[3]}/rank-{state.process_index}.json", "w") as handle:
    json.dump({"world": state.num_processes, "sha256": digest.hexdigest(), "losses": result.losses}, handle)
"""


def weights_hash(params: dict[str, torch.nn.Parameter]) -> str:
    digest = hashlib.sha256()
    for name in sorted(params):
        digest.update(name.encode())
        digest.update(params[name].detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def test_two_processes_agree_on_the_weights(tiny_config, synth_root, tmp_path):
    overrides = {"data.root": str(synth_root), "train.max_steps": 4, "checkpoint.every": 1000}
    script = tmp_path / "rank.py"
    script.write_text(RANK_SCRIPT)
    output = tmp_path / "run"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29517",
        str(script), str(ROOT / "configs" / "tiny.yaml"), json.dumps(overrides), str(output),
    ]  # fmt: skip
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((output / f"rank-{r}.json").read_text()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2]
    assert ranks[0]["sha256"] == ranks[1]["sha256"]
    assert ranks[0]["losses"] == ranks[1]["losses"] and len(ranks[0]["losses"]) == 4
    initial = build_model(tiny_config(synth_root, **{"train.max_steps": 4})).params
    assert weights_hash(initial) != ranks[0]["sha256"]
    assert (output / "pipeline" / "model_index.json").is_file()
