"""Layered training config: YAML defaults, --set overrides, named errors, the resolved dump."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from hashtagger.errors import ConfigError
from hashtagger.train.config import (
    Config,
    config_from_dict,
    config_to_dict,
    describe_keys,
    dump_config,
    load_config,
)

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_defaults_without_file() -> None:
    cfg = load_config(None, [])
    assert cfg == Config()
    assert cfg.model.backbone == "resnet18" and cfg.model.pretrained == "imagenet"
    assert cfg.model.dropout is None and cfg.train.epochs == 13  # null: chosen by freeze_backbone


def test_partial_yaml_and_overrides_win(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  epochs: 5\n  lr: 1e-3\nmodel:\n  backbone: efficientnet_lite0\n")
    cfg = load_config(
        path,
        [
            "train.epochs=3",
            "train.lr=3e-4",
            "out=2024",
            "data.workers=none",
            "model.freeze_backbone=true",
            "seed=7",
        ],
    )
    assert cfg.train.epochs == 3  # --set wins over the file
    assert cfg.train.lr == pytest.approx(3e-4)  # '3e-4' is a string to PyYAML; the float field reads it
    assert cfg.model.backbone == "efficientnet_lite0"  # from the file
    assert cfg.train.batch_size == Config().train.batch_size  # default fills in
    assert cfg.out == "2024" and isinstance(cfg.out, str)  # a number given to a string key stays as typed
    assert cfg.data.workers is None and cfg.model.freeze_backbone is True and cfg.seed == 7


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.epoch=3", "unknown config key 'train.epoch' (valid keys in train: epochs,"),
        ("model.backbone_name=x", "unknown config key 'model.backbone_name'"),
        ("optim.lr=1", "unknown config key 'optim.lr' (sections: data, model, train, bovw)"),
        (
            "learning_rate=1",
            "unknown config key 'learning_rate' (valid top-level keys: data, model, train, bovw, out, seed)",
        ),
        ("train.lr.x=1", "unknown config key 'train.lr.x'"),
        ("train.epochs=three", "config key 'train.epochs': expected an integer, got 'three'"),
        ("train.epochs=2.5", "config key 'train.epochs': expected an integer"),
        ("train.batch_size=true", "config key 'train.batch_size': expected an integer"),
        ("model.freeze_backbone=1", "config key 'model.freeze_backbone': expected true or false"),
        ("model.dropout=lots", "config key 'model.dropout': expected a number"),
        ("model.pretrained=yes", "config key 'model.pretrained': expected a string"),
        (
            "model.backbone=vgg16",
            "config key 'model.backbone': 'vgg16' is not one of resnet18, efficientnet_lite0",
        ),
        ("train.loss=focal", "config key 'train.loss'"),
        ("train.epochs=0", "config key 'train.epochs': 0 is below the minimum 1"),
        ("model.dropout=1.5", "config key 'model.dropout': 1.5 is above the maximum"),
        ("train.epochs", "expected KEY=VALUE"),
        ("seed.value=1", "unknown config key 'seed.value'"),
    ],
)
def test_bad_overrides_name_the_key(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(None, [override])
    assert message in str(e.value)


def test_unknown_key_in_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  epochs: 2\n  learning_rate: 0.1\n")
    with pytest.raises(
        ConfigError, match=r"unknown config key 'train\.learning_rate'.*valid keys in train: epochs"
    ):
        load_config(path)
    path.write_text("training:\n  epochs: 2\n")
    with pytest.raises(ConfigError, match=r"unknown config key 'training'"):
        load_config(path)
    path.write_text("train: 3\n")
    with pytest.raises(ConfigError, match=r"config key 'train' must be a mapping"):
        load_config(path)


def test_wrong_type_in_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  epochs: many\n")
    with pytest.raises(ConfigError, match=r"'train\.epochs': expected an integer, got 'many'"):
        load_config(path)


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [epochs: 3\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(bad)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert load_config(empty) == Config()


def _laughs(levels: int) -> str:
    """The "billion laughs": each anchor is a list of nine aliases of the previous one."""
    lines = ["out:", "  - &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels):
        lines.append(f"  - &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_yaml_aliases_that_expand_past_the_budget_are_refused(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(_laughs(8))  # 9**8 = 43 million values in a few hundred bytes
    assert bomb.stat().st_size < 500
    with pytest.raises(ConfigError, match=r"bomb\.yaml: refused: its aliases .* expand past 10,000"):
        load_config(bomb)
    bomb.write_text("a: &a [*a]\n")  # an alias inside itself
    with pytest.raises(ConfigError, match="refused: its aliases"):
        load_config(bomb)
    bomb.write_text("[" * 50_000 + "]" * 50_000 + "\n")
    with pytest.raises(ConfigError, match="nested too deeply"):
        load_config(bomb)
    # A modest anchor is still fine: one value used twice.
    ok = tmp_path / "ok.yaml"
    ok.write_text("train:\n  lr: &lr 0.01\n  weight_decay: *lr\n")
    assert load_config(ok).train.weight_decay == 0.01


def test_quoted_values_in_errors_stay_short(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(_laughs(3))  # 729 values: within the budget, but a wrong type for out
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert str(e.value).startswith("config key 'out': expected a string, got [") and len(str(e.value)) < 150
    for override in ("train.epochs=" + "9" * 5000, "train.optimizer=" + "x" * 10_000, "x" * 10_000):
        with pytest.raises(ConfigError) as e:
            load_config(None, [override])
        assert len(str(e.value)) < 200, str(e.value)
    path.write_text("seed: " + "9" * 5000 + "\n")
    with pytest.raises(ConfigError, match="cannot read a value .a number has thousands of digits"):
        load_config(path)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.lr=.nan", "'train.lr': expected a finite number, got nan"),
        ("train.lr=nan", "'train.lr': expected a finite number, got nan"),
        ("train.warmup_epochs=.inf", "'train.warmup_epochs': expected a finite number, got inf"),
        ("train.lr=1e400", "'train.lr': expected a finite number, got inf"),
        ("model.dropout=-.inf", "'model.dropout': expected a finite number, got -inf"),
        ("seed=12345678901234567890", "'seed': 12345678901234567890 is above the maximum 4294967295"),
        ("seed=4294967296", "'seed': 4294967296 is above the maximum 4294967295"),
        ("train.epochs=100000000000000000000", "'train.epochs': 100000000000000000000 is too large"),
    ],
)
def test_non_finite_and_huge_numbers_name_the_key(override: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(None, [override])
    key, value = override.split("=")
    path = tmp_path / "c.yaml"
    section, _, name = key.rpartition(".")
    path.write_text(f"{section}:\n  {name}: {value}\n" if section else f"{name}: {value}\n")
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(path)


def test_dump_round_trip(tmp_path: Path) -> None:
    cfg = load_config(None, ["train.epochs=4", "model.image_size=64", "data.path=x.csv", "train.loss=asl"])
    out = dump_config(cfg, tmp_path / "run" / "config.yaml")
    assert load_config(out) == cfg
    assert config_from_dict(config_to_dict(cfg)) == cfg
    assert not list((tmp_path / "run").glob(".*.tmp"))  # atomic: no temporary left behind
    assert yaml.safe_load(out.read_text())["train"]["epochs"] == 4


@pytest.mark.parametrize("name", ["harrison.yaml", "clothing.yaml", "tiny.yaml"])
def test_shipped_configs_load(name: str) -> None:
    cfg = load_config(CONFIGS / name)
    assert cfg.train.epochs >= 1
    text = (CONFIGS / name).read_text()
    assert "#" in text  # documented


def test_clothing_config_runs_offline_as_written() -> None:
    cfg = load_config(CONFIGS / "clothing.yaml")
    assert cfg.model.backbone == "efficientnet_lite0" and cfg.model.pretrained == "imagenet"
    assert cfg.data.path == "../shared/data/clothing-small/labels.csv"
    assert cfg.model.freeze_backbone and cfg.train.augment == "none" and cfg.train.feature_cache


def test_every_key_is_documented() -> None:
    readme = (CONFIGS / "README.md").read_text()
    for key, _default, doc in describe_keys():
        assert doc, key
        assert f"`{key}`" in readme, key


def test_a_frozen_backbone_defaults_to_no_augmentation_and_the_feature_cache(tmp_path: Path) -> None:
    from hashtagger.train.config import augmentation, uses_feature_cache

    minimal = tmp_path / "minimal.yaml"
    minimal.write_text(
        "model:\n  backbone: efficientnet_lite0\n  freeze_backbone: true\ntrain:\n  epochs: 8\n"
    )
    cfg = load_config(minimal)
    assert cfg.train.augment == "auto" and augmentation(cfg) == "none" and uses_feature_cache(cfg)
    tuned = load_config(minimal, ["model.freeze_backbone=false"])
    assert augmentation(tuned) == "standard" and not uses_feature_cache(tuned)
    chosen = load_config(minimal, ["train.augment=flip"])
    assert augmentation(chosen) == "flip" and not uses_feature_cache(chosen)


def test_learning_rate_and_dropout_defaults_follow_what_is_trained(tmp_path: Path) -> None:
    from hashtagger.train.config import head_dropout, head_lr

    minimal = tmp_path / "minimal.yaml"
    minimal.write_text("model:\n  freeze_backbone: true\n")
    frozen = load_config(minimal)
    assert (head_lr(frozen), head_dropout(frozen)) == (0.003, 0.5)  # a head alone on cached features
    tuned = load_config(minimal, ["model.freeze_backbone=false"])
    assert (head_lr(tuned), head_dropout(tuned)) == (0.001, 0.7)
    chosen = load_config(minimal, ["train.lr=0.01", "model.dropout=0.2"])
    assert (head_lr(chosen), head_dropout(chosen)) == (0.01, 0.2)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.image_size=100000", "'model.image_size': 100000 is above the maximum 1024"),
        ("bovw.image_size=100000", "'bovw.image_size': 100000 is above the maximum 1024"),
        ("train.batch_size=1000000", "'train.batch_size': 1000000 is above the maximum 4096"),
        ("data.workers=100000", "'data.workers': 100000 is above the maximum 64"),
        ("bovw.workers=100000", "'bovw.workers': 100000 is above the maximum 64"),
        ("train.lr=1e308", "'train.lr': 1e+308 is above the maximum 10.0"),
        ("train.backbone_lr_scale=1e308", "'train.backbone_lr_scale': 1e+308 is above the maximum 10.0"),
        ("train.warmup_epochs=1e308", "'train.warmup_epochs': 1e+308 is above the maximum 1000000.0"),
    ],
)
def test_sizes_and_rates_that_only_exhaust_the_machine_name_the_key(override: str, message: str) -> None:
    """model.image_size=100000 reached 24 GB before the kernel killed it; lr=1e308 overflowed in AdamW."""
    from hashtagger.image.preprocess import MAX_SIZE

    assert MAX_SIZE == 1024  # the bound checkpoints put on preprocessing, reused
    with pytest.raises(ConfigError, match=re.escape(message)) as e:
        load_config(None, [override])
    assert "\n" not in str(e.value)
