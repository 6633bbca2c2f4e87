"""Model checkpoints: state dicts + one JSON file, written atomically, loaded with clear errors."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import os
import platform
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

import jobtag
from jobtag.config import FeatureSettings, TrainSettings
from jobtag.errors import ModelError
from jobtag.features.scaling import NumericScaler
from jobtag.models.autoencoder import AutoencoderConfig, ConvAutoencoder
from jobtag.models.inputs import BagWeighting
from jobtag.models.tagmodel import TagModel
from jobtag.models.tagnet import TagNet, TagNetConfig

log = logging.getLogger(__name__)

FORMAT_VERSION = 2  # 2: SVM wide path, Platt offset buffer
CONFIG_FILE = "model.json"
# On-disk names predate the TagNet rename and stay (checkpoints of every version load): the
# net's weights are "tagger.pt", its config the "tagger" entry of the meta file.
WEIGHT_FILES = ("autoencoder.pt", "tagger.pt", "idf.npy")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {k: _jsonable(v) for k, v in dataclasses.asdict(obj).items()}
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _meta_checksum(meta: dict[str, Any]) -> str:
    """SHA-256 of model.json's content without its own checksum (canonical JSON)."""
    body = {k: v for k, v in meta.items() if k != "meta_checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode("utf-8")).hexdigest()


_LEFTOVER = re.compile(r"^\..+\.(?:tmp|old)-(\d+)(?:-.*)?$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_leftovers(folder: Path) -> list[Path]:
    """Remove temp/old folders of saves killed midway (their process is gone); returns them."""
    removed = []
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        m = _LEFTOVER.match(entry.name)
        if (
            m
            and entry.is_dir()
            and (int(m.group(1)) != os.getpid())
            and not _alive(int(m.group(1)))
        ):
            shutil.rmtree(entry, ignore_errors=True)
            log.info("removed %s left by an interrupted model save", entry.name)
            removed.append(entry)
    return removed


def _weights(model: TagModel) -> dict[str, bytes]:
    """The weight files' bytes (torch.save of equal tensors gives equal bytes)."""
    out = {}
    for name, state in (
        ("autoencoder.pt", model.ae.state_dict()),
        ("tagger.pt", model.net.state_dict()),
    ):
        buf = io.BytesIO()
        torch.save(state, buf)
        out[name] = buf.getvalue()
    idf = model.weighting.idf_ if model.weighting is not None else np.zeros(0, np.float32)
    buf = io.BytesIO()
    np.save(buf, np.asarray(idf, dtype=np.float32), allow_pickle=False)
    out["idf.npy"] = buf.getvalue()
    return out


def _reusable(reuse_from: Path | None) -> dict[str, str]:
    """Checksums of the weight files of an earlier checkpoint that may be hard-linked."""
    if reuse_from is None:
        return {}
    try:
        meta = json.loads((reuse_from / CONFIG_FILE).read_text(encoding="utf-8"))
        return {k: v for k, v in meta["checksums"].items() if k in WEIGHT_FILES}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _link_same(src: Path, dst: Path, checksum: str) -> bool:
    """Hard-link `src` to `dst` when its bytes have `checksum`; False (and no `dst`) when this
    file system has no hard links, `src` is gone, or its bytes differ: the caller writes it."""
    try:
        os.link(src, dst)
    except OSError as exc:
        log.debug("cannot link %s (%s): writing it", src.name, exc)
        return False
    if _sha256(dst) == checksum:
        return True
    dst.unlink()
    return False


def save_model(model: TagModel, directory: Path, reuse_from: Path | None = None) -> Path:
    """Write weights + model.json to a temp dir beside `directory`, fsync, then rename over it.

    `reuse_from`: an earlier checkpoint; a weight file whose bytes equal its file is hard-linked
    to it instead of written again (e.g. the autoencoder, which an update of the wide path alone
    leaves as it was). Checkpoint files are never written in place, so a link is safe.
    """
    directory = directory.resolve()
    directory.parent.mkdir(parents=True, exist_ok=True)
    clean_leftovers(directory.parent)
    tmp = Path(
        tempfile.mkdtemp(prefix=f".{directory.name}.tmp-{os.getpid()}-", dir=directory.parent)
    )
    try:
        reusable = _reusable(reuse_from)
        checksums = {}
        for name, data in _weights(model).items():
            checksums[name] = hashlib.sha256(data).hexdigest()
            same = reuse_from is not None and reusable.get(name) == checksums[name]
            if not (same and _link_same(reuse_from / name, tmp / name, checksums[name])):
                (tmp / name).write_bytes(data)
        meta = {
            "format_version": FORMAT_VERSION,
            "versions": {
                "jobtag": jobtag.__version__,
                "torch": torch.__version__,
                "python": platform.python_version(),
            },
            "autoencoder": _jsonable(model.ae.cfg),
            "tagger": _jsonable(model.net.cfg),
            "tags": model.tags,
            "thresholds": [float(t) for t in model.thresholds],
            "global_threshold": model.global_threshold,
            "pos_weight": [float(p) for p in model.pos_weight],
            "scaler": model.scaler.to_dict(),
            "features": _jsonable(model.feature_settings),
            "train_settings": _jsonable(model.settings),
            "summary": _jsonable(model.summary),
            "val_metrics": _jsonable(model.val_metrics),
            "checksums": checksums,
        }
        meta = json.loads(json.dumps(meta))  # the checksum covers exactly what is read back
        meta["meta_checksum"] = _meta_checksum(meta)
        (tmp / CONFIG_FILE).write_text(json.dumps(meta, indent=1), encoding="utf-8")
        for p in tmp.iterdir():
            _fsync(p)  # a linked file's data is already on disk: this is cheap
        _fsync(tmp)
        old = None
        if directory.exists():
            old = directory.parent / f".{directory.name}.old-{os.getpid()}"
            os.rename(directory, old)
        os.rename(tmp, directory)
        _fsync(directory.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


def _dataclass_from(cls: type, data: dict[str, Any], what: str, directory: Path) -> Any:
    names = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for k, v in data.items():
        if k not in names:
            continue  # a setting dropped since: ignore
        kwargs[k] = tuple(v) if isinstance(v, list) else v
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ModelError(f"{directory / CONFIG_FILE}: bad {what} section ({exc})") from exc


def _read_meta(directory: Path) -> dict[str, Any]:
    """model.json of a checkpoint folder, checked: present, JSON, this format version, checksum."""
    cfg_path = directory / CONFIG_FILE
    clean_leftovers(directory.parent)
    if not directory.is_dir():
        raise ModelError(f"model directory not found: {directory}")
    if not cfg_path.is_file():
        raise ModelError(f"model file missing: {cfg_path}")
    try:
        meta = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"model file corrupt: {cfg_path} ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION:
        got = meta.get("format_version") if isinstance(meta, dict) else None
        raise ModelError(
            f"{cfg_path}: model format version {got!r} is not supported by this jobtag "
            f"(expects {FORMAT_VERSION}); retrain with `jobtag train`"
        )
    if "meta_checksum" in meta and meta["meta_checksum"] != _meta_checksum(meta):
        raise ModelError(f"model file corrupt or edited by hand (checksum mismatch): {cfg_path}")
    return meta


def load_model(directory: Path, expect_features: FeatureSettings | None = None) -> TagModel:
    """Read a checkpoint written by save_model; ModelError names the file and the problem."""
    cfg_path = directory / CONFIG_FILE
    meta = _read_meta(directory)
    try:
        for name in WEIGHT_FILES:
            path = directory / name
            if not path.is_file():
                raise ModelError(f"model file missing: {path}")
            if _sha256(path) != meta["checksums"][name]:
                raise ModelError(f"model file corrupt (checksum mismatch, truncated?): {path}")
        features = _dataclass_from(FeatureSettings, meta["features"], "features", directory)
        if expect_features is not None:
            for key in ("n_features", "max_tokens", "embedder"):
                if getattr(expect_features, key) != getattr(features, key):
                    raise ModelError(
                        f"{cfg_path}: model was trained with features.{key}="
                        f"{getattr(features, key)}, current settings say "
                        f"{getattr(expect_features, key)}; retrain or restore the setting"
                    )
        ae_cfg = _dataclass_from(AutoencoderConfig, meta["autoencoder"], "autoencoder", directory)
        tg_cfg = _dataclass_from(TagNetConfig, meta["tagger"], "tagger", directory)
        settings = _dataclass_from(
            TrainSettings, meta["train_settings"], "train_settings", directory
        )
        ae, net = ConvAutoencoder(ae_cfg), TagNet(tg_cfg)
        try:
            ae.load_state_dict(torch.load(directory / "autoencoder.pt", weights_only=True))
            net.load_state_dict(
                with_name_defaults(net, torch.load(directory / "tagger.pt", weights_only=True))
            )
            idf = np.load(directory / "idf.npy", allow_pickle=False)
        except (RuntimeError, OSError, ValueError, EOFError) as exc:
            raise ModelError(f"model weights in {directory} cannot be loaded: {exc}") from exc
        weighting = None
        if net.wide is not None:
            weighting = BagWeighting()
            weighting.idf_ = idf.astype(np.float32)
        _check_consistent(meta, tg_cfg, cfg_path)
        return TagModel(
            ae=ae,
            net=net,
            tags=meta["tags"],
            thresholds=np.asarray(meta["thresholds"], np.float32),
            global_threshold=meta["global_threshold"],
            scaler=NumericScaler.from_dict(meta["scaler"]),
            weighting=weighting,
            feature_settings=features,
            settings=settings,
            pos_weight=np.asarray(meta["pos_weight"], np.float32),
            summary=meta.get("summary"),
            val_metrics=meta.get("val_metrics"),
        )
    except KeyError as exc:
        raise ModelError(f"{cfg_path}: required entry {exc} missing") from exc
    except (ValueError, TypeError, AttributeError) as exc:
        raise ModelError(f"{cfg_path}: inconsistent model ({exc})") from exc


def with_name_defaults(net: TagNet, state: dict[str, Any]) -> dict[str, Any]:
    """A saved net's state, with the tag names' buffers at their defaults (the names do not
    count) when it was saved before they existed; every other missing key still fails."""
    out = dict(state)
    for key, value in net.state_dict().items():
        if key.startswith("names_") and key not in out:
            out[key] = value
    return out


def _check_consistent(meta: dict[str, Any], net_cfg: Any, cfg_path: Path) -> None:
    """Tags, thresholds and weights must agree in length and type (else ModelError)."""
    tags = meta["tags"]
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ModelError(f"{cfg_path}: 'tags' must be a list of tag names")
    n_out = getattr(net_cfg, "n_tags", None)
    for key in ("thresholds", "pos_weight"):
        if not isinstance(meta[key], list) or len(meta[key]) != len(tags):
            raise ModelError(f"{cfg_path}: inconsistent model ({key} does not match the tags)")
    if isinstance(n_out, int) and n_out != len(tags):
        raise ModelError(f"{cfg_path}: inconsistent model ({n_out} outputs, {len(tags)} tags)")
