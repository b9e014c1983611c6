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


@pytest.mark.parametrize("name", ["wan2.1-i2v-14b", "demo"])
def test_recipe_groups_and_adapters_select_parameters(name):
    # The recipes' LoRA targets and custom groups must pick real parameters of a Wan DiT (a typo in a target or
    # a pattern would otherwise surface only on the full model); built here on the tiny architecture.
    from animatex.training.train import build_model

    path = CONFIGS[0].parent / f"{name}.yaml"
    config = load_config(path, {"model.pipeline": None, "model.preset": "tiny", "model.vae": None})
    model = build_model(config)
    for task, weight in config.tasks.mix.items():
        assert weight == 0 or model.task_params[task], task
    for group in config.tasks.patterns:
        assert model.groups[group], group
    if config.lora is not None:
        lora = [n for n in model.params if ".lora_A." in n]
        for target in config.lora.targets:
            assert any(f".{target}.lora_A." in n for n in lora), target


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("train: {max_stepz: 3}", "train.max_stepz: unknown key"),
        ("train: {max_steps: three}", "train.max_steps: input should be a valid integer"),
        ("data: {num_frames: 8}", "data.num_frames: must be 4k+1"),
        ("data: {height: 40}", "data.height/width: must be multiples of 16"),
        ("data: {still_background: 1.5}", "data.still_background: input should be less than or equal to 1"),
        ("data: {horizontal_flip: -0.1}", "data.horizontal_flip: input should be greater than or equal to 0"),
        ("model: {scheduler_shift: 0}", "model.scheduler_shift: input should be greater than 0"),
        ("tasks: {mix: {dance: 1.0}}", "tasks.mix.dance: unknown task"),
        (
            "tasks: {trainable: {animate: [wings]}}",
            "tasks.trainable.animate: unknown parameter group 'wings'",
        ),
        ("lora: null", "tasks.trainable.animate: trains 'lora' but the config has `lora: null`"),
        ("model: {preset: huge}", "model.preset: unknown preset 'huge'"),
        ("epi: {flips: 0.5}", "epi.flips: unknown key (known keys here: enabled, max_add_parts"),
        (
            "epi: {op_probabilities: {teleport: 0.5}}",
            "epi: EPIConfig.op_probabilities: unknown op(s) ['teleport']",
        ),
        ("epi: {probability: 1.5}", "epi: EPIConfig.probability must be in [0, 1]"),
        ("optim: {group_lr: {wings: 1.0e-5}}", "optim.group_lr.wings: unknown parameter group"),
        ("dropout: {pose: 1.5}", "dropout.pose: input should be less than or equal to 1"),
        ("flow: {timesteps: cosmic}", "flow.timesteps:"),
        ("optim: {betas: [0.9]}", "optim.betas: list should have at least 2 items"),
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


def test_epi_section_is_the_pose_epi_config(tiny_config, synth_root):
    # One definition of the EPI parameters (animatex.pose.epi.EPIConfig): the trainer's `epi` section is it.
    from animatex.pose.epi import EPIConfig

    config = tiny_config(
        synth_root, **{"epi.realign_probability": 0.5, "epi.scale_ranges": {"legs": [0.5, 2]}}
    )
    assert isinstance(config.epi, EPIConfig) and config.epi.enabled
    assert config.epi.realign_probability == 0.5 and config.epi.scale_ranges == {"legs": (0.5, 2.0)}
    assert config.epi.op_probabilities == EPIConfig().op_probabilities


def test_set_needs_key_equals_value():
    from animatex.training.config import parse_overrides

    assert parse_overrides(["train.max_steps=3", "lora=null"]) == {"train.max_steps": 3, "lora": None}
    with pytest.raises(AnimatexError, match="--set takes KEY=VALUE"):
        parse_overrides(["train.max_steps"])
