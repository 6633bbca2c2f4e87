"""Checkpoint integrity: model.json is checksummed, inconsistent files are ModelError, no leftovers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from jobtag.cli import main
from jobtag.errors import ModelError
from jobtag.models.checkpoint import clean_leftovers, load_model

from ..helpers import trained_tagger


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    tagger = trained_tagger(tmp_path_factory.mktemp("ckpt"), jobs=150)
    path = Path(tagger.store.active_model().path)
    home = tagger.settings.home
    tagger.close()
    return path, home


def _edit(path: Path, change) -> str:  # noqa: ANN001
    cfg = path / "model.json"
    original = cfg.read_text(encoding="utf-8")
    meta = json.loads(original)
    change(meta)
    cfg.write_text(json.dumps(meta), encoding="utf-8")
    return original


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m["thresholds"].__setitem__(0, 0.99), "edited by hand"),
        (lambda m: m.update(tags=5, meta_checksum=None) or m.pop("meta_checksum"), "tags"),
        (lambda m: m.update(thresholds=[0.5]) or m.pop("meta_checksum"), "thresholds"),
        (lambda m: m.update(tags=[*m["tags"], "extra"]) or m.pop("meta_checksum"), "inconsistent"),
    ],
)
def test_edited_or_inconsistent_model_json_is_a_model_error(saved, change, message):
    path, home = saved
    original = _edit(path, change)
    try:
        with pytest.raises(ModelError, match=message):
            load_model(path)
        result = CliRunner().invoke(main, ["--home", str(home), "predict", "--title", "x"])
        assert result.exit_code == 7, result.output
        assert "Traceback" not in result.output
    finally:
        (path / "model.json").write_text(original, encoding="utf-8")
    assert load_model(path).tags


def test_a_save_killed_midway_leaves_nothing_after_the_next_start(saved, tmp_path):
    path, _ = saved
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    leftover = path.parent / f".{path.name}.tmp-{dead}-abc123"
    leftover.mkdir()
    (leftover / "tagger.pt").write_bytes(b"half")
    mine = path.parent / f".{path.name}.tmp-{os.getpid()}-busy"
    mine.mkdir()
    load_model(path)  # the next start loads the model
    assert not leftover.exists() and mine.exists()
    mine.rmdir()
    assert clean_leftovers(tmp_path / "none") == []


def test_a_save_links_the_unchanged_weight_files_of_its_base(saved, tmp_path):
    import torch

    from jobtag.models.checkpoint import WEIGHT_FILES, save_model

    path, _home = saved
    model = load_model(path)
    with torch.no_grad():
        model.net.wide.weight[0, 0] += 1.0  # the wide path changed, the autoencoder did not
    out = save_model(model, tmp_path / "next", reuse_from=path)
    linked = {n for n in WEIGHT_FILES if (out / n).stat().st_ino == (path / n).stat().st_ino}
    assert linked == {"autoencoder.pt", "idf.npy"}
    again = load_model(out)
    assert torch.equal(again.net.wide.weight.detach(), model.net.wide.weight.detach())
    for a, b in zip(again.ae.state_dict().values(), model.ae.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    plain = save_model(model, tmp_path / "plain")  # without a base: every file written
    assert all((plain / n).stat().st_nlink == 1 for n in WEIGHT_FILES)


def test_the_on_disk_names_are_those_of_every_saved_version(saved):
    """TagNet was TaggerNet: its files keep the old names, so older checkpoints still load."""
    path, _ = saved
    assert {p.name for p in path.iterdir()} >= {"model.json", "autoencoder.pt", "tagger.pt"}
    meta = json.loads((path / "model.json").read_text(encoding="utf-8"))
    assert {"autoencoder", "tagger", "tags", "thresholds"} <= set(meta)
    assert load_model(path).net.cfg.n_tags == len(meta["tags"])


def test_a_model_saved_before_the_tag_names_prior_loads_without_it(saved):
    import torch

    from jobtag.models.checkpoint import with_name_defaults

    model = load_model(saved[0])
    old = {k: v for k, v in model.net.state_dict().items() if not k.startswith("names_")}
    fresh = type(model.net)(model.net.cfg)
    fresh.load_state_dict(with_name_defaults(fresh, old))
    assert not fresh.uses_names and fresh.names_weight.tolist() == [0.0, 0.0, 0.0]
    del old["mix"]  # anything else missing is still an error
    with pytest.raises(RuntimeError, match="mix"):
        fresh.load_state_dict(with_name_defaults(fresh, old))
    assert torch.equal(fresh.names_shrink, torch.ones(len(model.tags)))


def test_the_tag_names_weights_survive_a_save(saved, tmp_path):
    import numpy as np
    import torch

    from jobtag.models.checkpoint import save_model

    model = load_model(saved[0])
    with torch.no_grad():
        model.net.names_weight.copy_(torch.tensor([0.7, 0.3, 0.0]))
        model.net.names_shrink.fill_(0.5)
    again = load_model(save_model(model, tmp_path / "m"))
    assert (
        again.net.names_weight.tolist() == pytest.approx([0.7, 0.3, 0.0]) and again.net.uses_names
    )
    from jobtag.features.pipeline import Featurizer
    from jobtag.records import make_job

    batch = Featurizer(model.feature_settings).transform([make_job("Python developer", "Sales")])
    np.testing.assert_allclose(again.scores(batch), model.scores(batch))
