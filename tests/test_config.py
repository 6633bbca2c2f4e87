"""Settings: defaults, TOML file, env vars and flags, in that order; bad values are clear errors."""

from __future__ import annotations

import copy
import dataclasses

import pytest

from jobtag.config import FeatureSettings, Settings, TrainSettings, UpdateSettings, load_settings
from jobtag.errors import ConfigError


def test_defaults(tmp_path):
    s = load_settings(environ={"JOBTAG_HOME": str(tmp_path)})
    assert s.features.n_features == 2**15
    assert s.train.code_dim == 100
    assert len(s.train.hidden) == 5
    assert s.update.every_n_jobs == 100
    assert s.database_url == f"sqlite:///{tmp_path / 'jobtag.db'}"


def test_file_then_env_then_flags(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('db_url = "sqlite:///file.db"\n[train]\nseed = 5\nhidden = [8, 8, 8, 8, 8]\n')
    env = {"JOBTAG_HOME": str(tmp_path), "JOBTAG_TRAIN__SEED": "6", "JOBTAG_UPDATE__AUTO": "no"}
    s = load_settings(cfg, environ=env)
    assert s.db_url == "sqlite:///file.db"
    assert s.train.seed == 6  # env beats file
    assert s.train.hidden == (8, 8, 8, 8, 8)
    assert s.update.auto is False
    s = load_settings(cfg, {"train.seed": 7, "db_url": None}, environ=env)
    assert s.train.seed == 7  # flags beat env; None leaves the value alone
    assert s.db_url == "sqlite:///file.db"


def test_env_names_upper_case_settings_with_capitals_too(tmp_path):
    env = {"JOBTAG_HOME": str(tmp_path), "JOBTAG_TRAIN__WIDE_C": "2.5"}
    env["JOBTAG_TRAIN__WIDE_C_GRID"] = "1,4"
    s = load_settings(environ=env)
    assert s.train.wide_C == 2.5 and s.train.wide_C_grid == (1.0, 4.0)


def test_jobtag_db_env(tmp_path):
    s = load_settings(environ={"JOBTAG_HOME": str(tmp_path), "JOBTAG_DB": "postgresql://x/y"})
    assert s.database_url == "postgresql://x/y"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"train.nope": 1}, "unknown setting 'train.nope'"),
        ({"nope.seed": 1}, "unknown setting section 'nope'"),
        ({"train.seed": "abc"}, "setting 'train.seed'"),
        ({"update.auto": "maybe"}, "setting 'update.auto'"),
    ],
)
def test_bad_overrides(tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(overrides=overrides, environ={"JOBTAG_HOME": str(tmp_path)})


def test_missing_and_broken_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "missing.toml", environ={})
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\n")
    with pytest.raises(ConfigError, match="bad.toml"):
        load_settings(bad, environ={})


def test_lists_from_text_and_case_of_keys(tmp_path):
    env = {
        "JOBTAG_HOME": str(tmp_path),
        "JOBTAG_TRAIN__HIDDEN": "8, 8,8",
        "JOBTAG_Train__Deep_Weights": "0,0.5",
        "JOBTAG_SEED": "99",  # no section: not a setting, ignored
        "JOBTAG_DB": "",  # empty: the default database
    }
    s = load_settings(overrides={"train.wide_C_grid": "1,3"}, environ=env)
    assert s.train.hidden == (8, 8, 8)
    assert s.train.deep_weights == (0.0, 0.5)
    assert s.train.wide_C_grid == (1.0, 3.0)
    assert s.train.seed == 13
    assert s.db_url is None


def test_home_decides_the_default_file_and_expands(tmp_path, monkeypatch):
    (tmp_path / "jobtag.toml").write_text("[features]\nn_features = 4096\n")
    s = load_settings(environ={"JOBTAG_HOME": str(tmp_path)})
    assert s.features.n_features == 4096
    monkeypatch.setenv("HOME", str(tmp_path))
    s = load_settings(overrides={"home": "~/elsewhere"}, environ={"JOBTAG_HOME": str(tmp_path)})
    assert s.home == tmp_path / "elsewhere"
    assert s.features.n_features == 4096  # the file was found from the environment's home
    assert s.models_dir == tmp_path / "elsewhere" / "models"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"JOBTAG_TRIAN__SEED": "3"}, "unknown setting section 'trian'"),
        ({"JOBTAG_TRAIN__NOPE": "3"}, "unknown setting 'train.nope'"),
        ({"JOBTAG_TRAIN__SEED": ""}, "setting 'train.seed': cannot use ''"),
        ({"JOBTAG_TRAIN__HIDDEN": "8,x"}, "setting 'train.hidden'"),
    ],
)
def test_bad_environment(tmp_path, env, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(environ={"JOBTAG_HOME": str(tmp_path), **env})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nope = 1\n", "unknown setting 'nope'"),
        ("[nope]\nseed = 1\n", "unknown setting section 'nope'"),
        ("[train]\nseed = 'abc'\n", "setting 'train.seed': cannot use 'abc'"),
        ("[update]\nauto = 'maybe'\n", "setting 'update.auto'"),
    ],
)
def test_bad_file(tmp_path, text, message):
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_settings(cfg, environ={"JOBTAG_HOME": str(tmp_path)})
    with pytest.raises(ConfigError, match=message):  # the same file named by $JOBTAG_CONFIG
        load_settings(environ={"JOBTAG_HOME": str(tmp_path), "JOBTAG_CONFIG": str(cfg)})


def test_sections_stay_plain_dataclasses(tmp_path):
    """Checkpoints save the sections with dataclasses.asdict and rebuild them by keyword."""
    s = load_settings(overrides={"train.seed": "4"}, environ={"JOBTAG_HOME": str(tmp_path)})
    assert type(s.train) is TrainSettings and type(s.features) is FeatureSettings
    assert type(s.update) is UpdateSettings
    saved = dataclasses.asdict(s.train)
    assert saved["seed"] == 4 and TrainSettings(**saved) == s.train
    assert copy.deepcopy(s).train == s.train


def test_settings_alone_reads_no_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("JOBTAG_TRAIN__SEED", "99")
    assert Settings().train.seed == 13
    assert Settings(train=TrainSettings(seed=5)).train.seed == 5
    assert load_settings(overrides={"home": tmp_path}).train.seed == 99  # os.environ by default
    with pytest.raises(ConfigError):
        load_settings(environ={"JOBTAG_HOME": str(tmp_path), "JOBTAG_TRAIN__SEED": "x"})
    assert Settings().train.seed == 13  # a failed load leaves nothing behind
