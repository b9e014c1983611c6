"""The trainer on tiny models: it learns, resumes exactly, trains only what each task names, and exports."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from animatex.cli import main as cli_main
from animatex.errors import AnimatexError
from animatex.pipelines import AnimateXPipeline
from animatex.training.checkpoint import checkpoint_dirs
from animatex.training.train import build_model, train

ROOT = Path(__file__).resolve().parents[2]


def test_overfits_a_single_clip(tiny_config, one_clip_root, tmp_path):
    # One clip, no EPI or dropout, high-noise timesteps, the whole DiT trained (width 96 so a token can carry
    # the 64 latent values of its patch): the velocity loss must fall by at least half.
    config = tiny_config(
        one_clip_root,
        **{
            "data.height": 16, "data.width": 16, "tasks.mix": {"animate": 1.0},
            "tasks.trainable": {"animate": ["transformer"]}, "lora": None, "epi.enabled": False,
            "dropout": {"pose": 0.0, "image": 0.0, "text": 0.0},
            "model.overrides": {"attention_head_dim": 48, "added_kv_proj_dim": 96},
            "optim": {"lr": 3e-3, "group_lr": {}, "max_grad_norm": 0.0},
            "flow": {"shift": 1.0, "timesteps": "logit_normal", "logit_mean": 4.0, "logit_std": 0.1},
            "train.max_steps": 300,
        },
    )  # fmt: skip
    losses = train(config, tmp_path / "run", progress=False).losses
    first, last = np.mean(losses[:20]), np.mean(losses[-20:])
    assert last <= 0.5 * first, (first, last)


def test_kill_and_resume_reproduces_the_uninterrupted_run(tiny_config, synth_root, tmp_path):
    config = tiny_config(
        synth_root,
        **{"train.max_steps": 4, "train.grad_accum": 2, "train.ema_decay": 0.9, "checkpoint.every": 2,
           "optim.warmup_steps": 2, "optim.schedule": "cosine", "train.encode_cache": 8},
    )  # fmt: skip
    whole = train(config, tmp_path / "whole", progress=False)
    first = train(
        config, tmp_path / "killed", stop_after=3, progress=False
    )  # dies after step 3, last ckpt: 2
    assert first.pipeline_dir is None and [p.name for p in checkpoint_dirs(tmp_path / "killed")][-1].endswith(
        "2"
    )
    with pytest.raises(ValueError, match="--resume"):
        train(config, tmp_path / "killed", progress=False)
    rest = train(config, tmp_path / "killed", resume=True, progress=False)
    assert first.losses == whole.losses[:3]
    assert rest.losses == whole.losses[2:]  # steps 3..4, step 3 run again from checkpoint 2
    for name in ("trainable.safetensors", "ema.safetensors"):
        a = load_file(tmp_path / "whole" / "checkpoint-00000004" / name)
        b = load_file(tmp_path / "killed" / "checkpoint-00000004" / name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert len(checkpoint_dirs(tmp_path / "whole")) == config.checkpoint.keep
    # log.csv lists every step once: the resumed run replaced the killed run's row of step 3.
    steps = [row.split(",")[0] for row in (tmp_path / "killed" / "log.csv").read_text().splitlines()]
    assert steps == ["step", "1", "2", "3", "4"]


def test_ema_starts_as_a_copy_then_warms_up(tiny_config, synth_root, tmp_path):
    # diffusers' EMAModel: the first update copies the weights, the n-th (n >= 2) keeps min(decay, (1+n)/(10+n))
    # of the average; the exported pipeline carries the average.
    config = tiny_config(synth_root, **{"train.max_steps": 2, "train.ema_decay": 0.5, "checkpoint.every": 1})
    train(config, tmp_path / "run", progress=False)
    one, two = (tmp_path / "run" / f"checkpoint-0000000{n}" for n in (1, 2))
    weights = [load_file(folder / "trainable.safetensors") for folder in (one, two)]
    averages = [load_file(folder / "ema.safetensors") for folder in (one, two)]
    decay = min(0.5, 2 / 11)
    for name, first in weights[0].items():
        assert torch.equal(averages[0][name], first)
        torch.testing.assert_close(averages[1][name], decay * first + (1 - decay) * weights[1][name])


def test_frozen_groups_stay_bitwise_unchanged(tiny_config, synth_root, tmp_path):
    config = tiny_config(
        synth_root, **{"train.max_steps": 10, "dropout": {"pose": 0.0, "image": 0.0, "text": 0.0}}
    )
    tasks, weights = [], []

    def record(step, plan, model):
        tasks.append(plan.task)
        weights.append({name: param.detach().clone() for name, param in model.params.items()})

    start = build_model(config)
    initial = {name: param.detach().clone() for name, param in start.params.items()}
    frozen = {"vae": start.pipe.vae.state_dict(), "text_encoder": start.pipe.text_encoder.state_dict()}
    result = train(config, tmp_path / "run", progress=False, callback=record)

    assert {"animate", "ti2v"} <= set(tasks)  # the seed mixes both tasks in 10 steps
    changed = {"animate": set(), "ti2v": set()}
    for task, before, after in zip(tasks, [initial, *weights], weights, strict=False):
        changed[task] |= {name for name in before if not torch.equal(before[name], after[name])}
    pose = {
        name
        for name in initial
        if name.split(".")[1] in ("pose_guider", "ref_pose_encoder", "pose_indicator")
    }
    assert pose and not changed["ti2v"] & pose  # ti2v trains only the LoRA: pose modules bitwise equal
    assert changed["ti2v"] and all("lora_" in name for name in changed["ti2v"])
    assert changed["animate"] & pose and any("lora_" in name for name in changed["animate"])
    # Only LoRA and pose modules are trainable at all: base DiT weights, the VAE and text encoder never train.
    assert set(initial) == pose | {name for name in initial if "lora_" in name}
    exported = AnimateXPipeline.from_pretrained(result.pipeline_dir)
    for component, state in frozen.items():
        now = getattr(exported, component).state_dict()
        assert all(torch.equal(now[name], value) for name, value in state.items())


def test_export_loads_and_animates_with_samples_and_tensorboard(tiny_config, synth_root, tmp_path):
    config = tiny_config(
        synth_root,
        **{"train.max_steps": 4, "log.sample_every": 2, "log.sample_steps": 2, "log.tensorboard": True,
           "train.gradient_checkpointing": True},
    )  # fmt: skip
    config.model.scheduler_shift = 8.0
    result = train(config, tmp_path / "run", progress=False)
    samples = sorted((tmp_path / "run" / "samples").glob("*.mp4"))
    assert [p.name for p in samples] == ["step-00000002.mp4", "step-00000004.mp4"]
    from animatex.io import read_video

    frames, _ = read_video(samples[0])
    assert frames.shape == (config.data.num_frames, 32, 96, 3)  # ground truth | pose | sample
    assert list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))
    rows = (tmp_path / "run" / "log.csv").read_text().splitlines()
    assert rows[0] == "step,task,loss,lr,seconds" and len(rows) == 5

    pipe = AnimateXPipeline.from_pretrained(result.pipeline_dir)
    assert not any("lora" in k for k in pipe.transformer.state_dict())  # LoRA merged
    assert pipe.scheduler.config.shift == 8.0  # model.scheduler_shift reaches the exported sampler
    from animatex.training.data import TrainingData

    example = TrainingData(config).fixed_example(0)
    video = pipe(
        image=example.reference, pose_video=example.pose_video, pose_keypoints=example.keypoints,
        driving_video=example.video, ref_pose=example.ref_pose, prompt=example.caption,
        num_inference_steps=2, guidance_scale=1.0, generator=torch.Generator().manual_seed(0),
    ).frames  # fmt: skip
    assert video.shape == (1, config.data.num_frames, 32, 32, 3) and np.isfinite(video).all()
    # The exported weights are the trained ones: the merged DiT differs from a fresh build.
    fresh = AnimateXPipeline.from_pretrained(result.pipeline_dir).transformer.state_dict()
    assert all(torch.equal(fresh[k], v) for k, v in pipe.transformer.state_dict().items())
    initial = build_model(config).pipe.transformer
    initial.unload_lora()
    start = initial.state_dict()
    assert any(not torch.equal(start[k], v) for k, v in pipe.transformer.state_dict().items() if k in start)


def test_cli_trains_and_resumes(synth_root, tmp_path, capsys):
    args = ["train", "--config", "configs/tiny.yaml", "--output", str(tmp_path / "run"), "--set",
            f"data.root={synth_root}", "--set", "checkpoint.every=1"]  # fmt: skip
    assert cli_main([*args, "--max-steps", "2"]) == 0
    assert "trained pipeline written" in capsys.readouterr().out
    assert cli_main(args + ["--max-steps", "3"]) == 2  # exists: needs --resume
    assert "--resume" in capsys.readouterr().err
    assert cli_main([*args, "--max-steps", "3", "--resume"]) == 0
    assert [p.name for p in checkpoint_dirs(tmp_path / "run")] == [
        "checkpoint-00000002",
        "checkpoint-00000003",
    ]
    assert cli_main(["train", "--config", "configs/tiny.yaml", "--set", "train.max_stepz=1"]) == 2
    assert "train.max_stepz: unknown key" in capsys.readouterr().err


def test_fine_tunes_a_saved_pipeline_with_a_half_precision_text_encoder(tiny_config, synth_root, tmp_path):
    # The shipped demo model stores its frozen text encoder in float16; starting a CPU run from such a folder
    # under bf16 autocast must train (it raised "mixed dtype (CPU)" in the encoder's LayerNorm).
    from animatex.pipelines.presets import build_pipeline

    start = build_pipeline("tiny", seed=0)
    start.text_encoder.to(torch.float16)
    start.save_pretrained(tmp_path / "start")
    config = tiny_config(
        synth_root, **{"model.pipeline": str(tmp_path / "start"), "train.max_steps": 2,
                       "train.mixed_precision": "bf16"},
    )  # fmt: skip
    result = train(config, tmp_path / "run", progress=False)
    assert len(result.losses) == 2 and np.isfinite(result.losses).all()


def test_trains_twice_in_one_process_with_different_mixed_precision(tiny_config, synth_root, tmp_path):
    # accelerate keeps one process-wide state: a notebook's second run with another precision raised
    # "AcceleratorState has already been initialized".
    for precision in ("no", "bf16"):
        config = tiny_config(synth_root, **{"train.max_steps": 1, "train.mixed_precision": precision})
        result = train(config, tmp_path / precision, progress=False)
        assert len(result.losses) == 1 and np.isfinite(result.losses).all()


def test_a_pipeline_folder_keeps_its_architecture(tiny_config, synth_root, tmp_path):
    from animatex.pipelines.presets import build_pipeline

    start = build_pipeline("tiny", seed=0)
    start.save_pretrained(tmp_path / "start")
    saved = start.transformer.config.num_layers
    folder = {"model.pipeline": str(tmp_path / "start"), "train.max_steps": 1}
    # Repeating the folder's own architecture is fine (configs/demo.yaml's overrides on the demo model) ...
    config = tiny_config(synth_root, **folder, **{"model.overrides": {"num_layers": saved}})
    assert len(train(config, tmp_path / "same", progress=False).losses) == 1
    # ... a different one is an error that says what to do.
    config = tiny_config(synth_root, **folder, **{"model.overrides": {"num_layers": saved + 1}})
    with pytest.raises(AnimatexError, match=r"model.overrides.num_layers: .*drop the override"):
        train(config, tmp_path / "other", progress=False)
    config = tiny_config(synth_root, **folder, **{"model.overrides": {"num_layerz": 2}})
    with pytest.raises(AnimatexError, match="has no such config field"):
        train(config, tmp_path / "typo", progress=False)


def test_an_output_folder_of_a_user_is_refused(tiny_config, synth_root, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    for name in ("config.json", "log.csv"):
        (folder / name).write_text("the user's own file")
    config = tiny_config(synth_root, **{"train.max_steps": 1})
    with pytest.raises(AnimatexError, match=r"not made by animatex \(config.json, log.csv\).*--overwrite"):
        train(config, folder, progress=False)
    assert all((folder / name).read_text() == "the user's own file" for name in ("config.json", "log.csv"))
    (folder / "notes.txt").write_text("kept")
    train(config, folder, progress=False, overwrite=True)  # asked for: written into, nothing else removed
    assert (folder / "notes.txt").read_text() == "kept" and (folder / "pipeline").is_dir()
    train(config, tmp_path / "empty", progress=False)  # a new folder is fine, and so is rerunning one of ours
    train(config, folder, progress=False, resume=True)


def test_ctrl_c_while_a_checkpoint_is_written_leaves_nothing_half_written(
    tiny_config, synth_root, tmp_path, monkeypatch
):
    import animatex.training.checkpoint as checkpoint_module

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    config = tiny_config(synth_root, **{"train.max_steps": 2, "checkpoint.every": 1})
    with monkeypatch.context() as patch:
        patch.setattr(checkpoint_module.torch, "save", interrupted)
        with pytest.raises(KeyboardInterrupt):
            train(config, tmp_path / "run", progress=False)
    assert not list((tmp_path / "run").glob(".checkpoint-*"))
    # A kill (no chance to clean up) leaves one; the next run in the folder removes it.
    (tmp_path / "run" / ".checkpoint-00000001.tmp-99999").mkdir()
    train(config, tmp_path / "run", resume=True, progress=False)
    assert not list((tmp_path / "run").glob(".checkpoint-*"))
    assert [p.name for p in checkpoint_dirs(tmp_path / "run")] == [
        "checkpoint-00000001",
        "checkpoint-00000002",
    ]


def test_a_malicious_optimizer_pickle_is_refused_and_not_run(tiny_config, synth_root, tmp_path):
    import os

    witness = tmp_path / "code-ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {witness}",))

    config = tiny_config(synth_root, **{"train.max_steps": 2, "checkpoint.every": 1})
    train(config, tmp_path / "run", stop_after=1, progress=False)
    optimizer_file = tmp_path / "run" / "checkpoint-00000001" / "optimizer.pt"
    torch.save({"state": Payload()}, optimizer_file)
    with pytest.raises(AnimatexError) as error:
        train(config, tmp_path / "run", resume=True, progress=False)
    message = str(error.value)
    assert "\n" not in message and str(optimizer_file) in message and "could run code" in message
    assert "weights_only=False" not in message and "delete checkpoint-00000001" in message
    assert not witness.exists()


FULL_DISK = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG, as on a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, (32 * 1024, 32 * 1024))
from animatex.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_full_disk_ends_in_one_line(synth_root, tmp_path):
    import subprocess
    import sys

    args = ["train", "--config", "configs/tiny.yaml", "--output", str(tmp_path / "run"), "--max-steps", "1",
            "--set", f"data.root={synth_root}"]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", FULL_DISK, *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300)  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "checkpoint-00000001" in last and "disk is full" in last and "--resume" in last
    assert not list((tmp_path / "run").glob(".checkpoint-*"))
