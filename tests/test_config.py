"""Settings: defaults, TOML file, env vars and flags, in that order; bad values are clear errors."""

from __future__ import annotations

import pytest

from jobtag.config import load_settings
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
