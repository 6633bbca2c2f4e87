"""One typed configuration: defaults here, overridden by a TOML file, then env vars, then flags."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobtag.errors import ConfigError


def default_home(environ: dict[str, str] | None = None) -> Path:
    """The data folder: $JOBTAG_HOME, else $XDG_DATA_HOME/jobtag, else ~/.local/share/jobtag."""
    env = os.environ if environ is None else environ
    if env.get("JOBTAG_HOME"):
        return Path(env["JOBTAG_HOME"]).expanduser()
    xdg = env.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "jobtag"


@dataclass
class FeatureSettings:
    """How a job becomes features (saved with every model)."""

    n_features: int = 2**15  # hashed bag-of-words width (title and description share it)
    max_tokens: int = 256  # ordered hashed token ids kept per job for the convolution
    pos_tagger: str = "fast"  # "fast" (lexicon tagger, default) or "spacy" (accurate, slower)
    batch_size: int = 512  # jobs featurized per batch


@dataclass
class TrainSettings:
    """Training defaults: the configuration recommended to users."""

    seed: int = 13
    threads: int = 1  # torch threads; 2 was 5-10x slower on a busy 2-core machine (see report)
    val_fraction: float = 0.1
    code_dim: int = 100
    ae_epochs: int = 4
    tagger_epochs: int = 40  # at most; early-stopped on the validation slice
    batch_size: int = 64
    lr: float = 2e-3
    patience: int = 5
    dropout: float = 0.2
    hidden: tuple[int, ...] = (200, 150, 100, 50, 25)
    min_tag_jobs: int = 1  # tags with fewer labeled jobs are not learned
    min_calibration_positives: int = 3  # rarer tags use the global threshold
    threshold_shrink: float = 10.0  # pull per-tag thresholds toward the global one (pseudo-count)
    min_one_tag: bool = True  # a job whose scores pass no threshold gets its top tag
    ae_embed_dim: int = 64
    ae_channels: int = 128
    ae_kernel: int = 3
    ae_lr: float = 2e-3
    wide: bool = True  # linear path on the TF-IDF bag summed into the logits (False = seed model)
    wide_C: float = 1.0  # the wide SVM's C when there is no validation slice to choose it on
    wide_C_grid: tuple[float, ...] = (0.3, 1.0, 3.0)  # C values tried on the validation slice
    # weights of the deep path beside the wide one tried on validation (units: std ratio)
    deep_weights: tuple[float, ...] = (0.0, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0)
    deep_min_gain: float = 0.01  # validation gain (mean of micro and macro F1) a deep weight needs
    finetune_encoder: bool = False  # train the encoder end to end with the tagger (slower)
    encoder_lr_scale: float = 0.5  # the fine-tuned encoder's learning rate / lr
    pos_weight_cap: float = 10.0  # BCE positive weight = min(cap, negatives/positives) per tag
    weight_decay: float = 0.0
    refit: bool = True  # after early stopping on the validation slice, retrain on all labeled jobs


@dataclass
class UpdateSettings:
    """The learning loop."""

    every_n_jobs: int = 100  # an update is due after this many new jobs ...
    every_n_corrections: int = 10  # ... or after this many new human corrections
    auto: bool = True  # run a due update automatically after predict (announced on stderr)
    pseudo_label_confidence: float = 0.9  # min calibrated confidence to use a prediction as a label
    pseudo_label_weight: float = 0.3
    replay_jobs: int = 500  # earlier labeled jobs mixed into each update's SGD part (deep path)
    correction_boost_max: int = 5  # a correction is shown up to this many times per epoch ...
    replay_per_correction: int = 20  # ... while the replay has this many jobs per correction
    epochs: int = 2
    judge_fraction: float = 0.3  # share of the labeled jobs new to the model that judge an update
    promote_tolerance: float = 0.0  # old tags' micro-F1 on the judge jobs may drop this much ...
    promote_z: float = 1.0  # ... plus this many standard errors of the paired difference
    refit_iterations: int = 30  # at most this many Newton steps of the warm-started wide refit
    fold_iterations: int = 10  # ... and of folding the judge jobs into a promoted model
    keep_versions: int = 5  # model files kept beside the active one: 5 rollback targets + 5 others


@dataclass
class Settings:
    """Everything configurable in jobtag."""

    home: Path = field(default_factory=default_home)
    db_url: str | None = None  # default: sqlite file in `home`
    features: FeatureSettings = field(default_factory=FeatureSettings)
    train: TrainSettings = field(default_factory=TrainSettings)
    update: UpdateSettings = field(default_factory=UpdateSettings)

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{self.home / 'jobtag.db'}"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"


def _coerce(value: Any, target: Any, name: str) -> Any:
    """Convert a TOML/env value to the type of the default it replaces."""
    try:
        if isinstance(target, bool):
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if isinstance(target, tuple):
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(type(target[0])(v) for v in items) if target else tuple(items)
        if isinstance(target, Path):
            return Path(value).expanduser()
        if target is None:
            return value
        return type(target)(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {name!r}: cannot use {value!r} ({exc})") from exc


def apply_overrides(settings: Settings, overrides: dict[str, Any]) -> Settings:
    """Apply dotted overrides such as {"train.seed": 3, "db_url": "..."}; None values are ignored."""
    for key, value in overrides.items():
        if value is None:
            continue
        parts = key.split(".")
        obj: Any = settings
        for part in parts[:-1]:
            if not hasattr(obj, part):
                raise ConfigError(f"unknown setting section {part!r} in {key!r}")
            obj = getattr(obj, part)
        leaf = parts[-1]
        if not dataclasses.is_dataclass(obj) or leaf not in {
            f.name for f in dataclasses.fields(obj)
        }:
            raise ConfigError(f"unknown setting {key!r}")
        setattr(obj, leaf, _coerce(value, getattr(obj, leaf), key))
    return settings


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in data.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _env_overrides(environ: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if environ.get("JOBTAG_DB"):
        out["db_url"] = environ["JOBTAG_DB"]
    for key, value in environ.items():
        # JOBTAG_TRAIN__SEED=3 -> train.seed
        if key.startswith("JOBTAG_") and "__" in key:
            out[key[len("JOBTAG_") :].lower().replace("__", ".")] = value
    return out


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Defaults, then the TOML file (explicit, $JOBTAG_CONFIG or HOME/jobtag.toml), env, flags."""
    environ = dict(os.environ) if environ is None else environ
    settings = Settings(home=default_home(environ))
    path = config_file or environ.get("JOBTAG_CONFIG")
    candidate = Path(path) if path else settings.home / "jobtag.toml"
    if path and not candidate.is_file():
        raise ConfigError(f"config file not found: {candidate}")
    if candidate.is_file():
        try:
            data = tomllib.loads(candidate.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {candidate}: {exc}") from exc
        apply_overrides(settings, _flatten(data))
    apply_overrides(settings, _env_overrides(environ))
    apply_overrides(settings, overrides or {})
    return settings
