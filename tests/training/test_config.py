"""Every shipped config loads; a bad config stops before training with a message naming the key."""

from pathlib import Path

import pytest

from animatex.errors import AnimatexError
from animatex.training.config import load_config
from animatex.training.train import train

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))


def test_shipped_configs_exist():
    assert {p.name for p in CONFIGS} >= {"tiny.yaml", "demo.yaml", "wan2.1-i2v-14b.yaml"}


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_shipped_config_loads(path):
    config = load_config(path)
    assert (config.data.num_frames - 1) % 4 == 0
    assert sum(config.tasks.mix.values()) > 0


def test_recipes_follow_the_references():
    demo = load_config(CONFIGS[0].parent / "demo.yaml")
    assert (demo.model.preset, demo.data.num_frames, demo.data.height, demo.data.width) == (
        "demo",
        17,
        64,
        64,
    )
    big = load_config(CONFIGS[0].parent / "wan2.1-i2v-14b.yaml")
    assert big.data.num_frames == 81 and big.train.mixed_precision == "bf16"
    assert big.train.gradient_checkpointing and big.optim.lr == 1e-4
    assert 64 <= big.lora.rank <= 128
    assert big.optim.group_lr["pose_indicator"] < big.optim.lr


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("train: {max_stepz: 3}", "train.max_stepz: unknown key"),
        ("train: {max_steps: three}", "train.max_steps: expected int"),
        ("data: {num_frames: 8}", "data.num_frames: must be 4k+1"),
        ("data: {height: 40}", "data.height/width: must be multiples of 16"),
        ("data: {still_background: 1.5}", "data.still_background: a probability in [0, 1]"),
        ("data: {horizontal_flip: -0.1}", "data.horizontal_flip: a probability in [0, 1]"),
        ("model: {scheduler_shift: 0}", "model.scheduler_shift: must be > 0"),
        ("tasks: {mix: {dance: 1.0}}", "tasks.mix.dance: unknown task"),
        (
            "tasks: {trainable: {animate: [wings]}}",
            "tasks.trainable.animate: unknown parameter group 'wings'",
        ),
        ("lora: null", "tasks.trainable.animate: trains 'lora' but the config has `lora: null`"),
        ("model: {preset: huge}", "model.preset: unknown preset 'huge'"),
        ("epi: {params: {flips: 0.5}}", "epi.params:"),
        ("epi: {params: {op_probabilities: {teleport: 0.5}}}", "epi.params:"),
        ("optim: {group_lr: {wings: 1.0e-5}}", "optim.group_lr.wings: unknown parameter group"),
        ("dropout: {pose: 1.5}", "dropout.pose: must be in [0, 1]"),
        ("flow: {timesteps: cosmic}", "flow.timesteps:"),
        ("optim: {betas: [0.9]}", "optim.betas:"),
        ("- a list", "expected a mapping"),
    ],
)
def test_bad_config_names_the_key(tmp_path, text, key):
    with pytest.raises(AnimatexError, match=None) as error:
        load_config(write(tmp_path, text))
    assert key in str(error.value)


def test_override_into_a_null_section(tiny_config, synth_root):
    config = tiny_config(synth_root, **{"lora.rank": 8})
    assert config.lora.rank == 8
    path = Path(__file__).resolve().parents[2] / "configs" / "tiny.yaml"
    with pytest.raises(AnimatexError, match=r"data.root: is a value"):
        load_config(path, {"data.root.deeper": 1})


def test_missing_dataset_stops_before_any_work(tiny_config, tmp_path):
    config = tiny_config(tmp_path / "nowhere")
    with pytest.raises(AnimatexError, match="data.root: no dataset"):
        train(config, tmp_path / "run", progress=False)
    assert not list((tmp_path / "run").glob("checkpoint-*"))


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"model.overrides": {"num_wings": 2}}, "model.overrides"),
        ({"lora.targets": ["no_such_layer"]}, "lora.targets"),
        (
            {"model.overrides": {"use_pose_indicator": False}},
            "tasks.trainable.animate: parameter group 'pose_indicator'",
        ),
    ],
)
def test_model_mismatch_names_the_key(tiny_config, synth_root, tmp_path, overrides, key):
    with pytest.raises(AnimatexError) as error:
        train(tiny_config(synth_root, **overrides), tmp_path / "run", progress=False)
    assert key in str(error.value)


def test_ema_decay_warms_up_then_caps():
    from animatex.training.train import ema_decay_at

    assert ema_decay_at(0.999, 0) == pytest.approx(0.1)  # the first step mostly copies the trained weights
    assert ema_decay_at(0.999, 90) == pytest.approx(91 / 100)
    assert ema_decay_at(0.999, 100_000) == 0.999
    decays = [ema_decay_at(0.99, s) for s in range(2000)]
    assert decays == sorted(decays) and max(decays) == 0.99
