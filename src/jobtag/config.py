"""One typed configuration: defaults here, overridden by a TOML file, then env vars, then flags.

`Settings` is a pydantic-settings model: `load_settings` stacks its sources (defaults, the TOML
file, the environment with nested keys such as JOBTAG_TRAIN__SEED=3, the flags) and pydantic
checks and converts every value. The three sections stay plain dataclasses (checkpoints save
them with `dataclasses.asdict`), so a new setting is one line in its section.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from jobtag.errors import ConfigError

ENV_PREFIX = "JOBTAG_"
NESTED = "__"  # JOBTAG_TRAIN__SEED=3 -> train.seed


def default_home(environ: Mapping[str, str] | None = None) -> Path:
    """The data folder: $JOBTAG_HOME, else $XDG_DATA_HOME/jobtag, else ~/.local/share/jobtag."""
    env = os.environ if environ is None else environ
    if env.get("JOBTAG_HOME"):
        return Path(env["JOBTAG_HOME"]).expanduser()
    xdg = env.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "jobtag"


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Derived files (the fast accurate mode's static vectors): $JOBTAG_CACHE_DIR, else
    $XDG_CACHE_HOME/jobtag, else ~/.cache/jobtag."""
    env = os.environ if environ is None else environ
    if env.get("JOBTAG_CACHE_DIR"):
        return Path(env["JOBTAG_CACHE_DIR"]).expanduser()
    xdg = env.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "jobtag"


def _comma_separated(value: Any) -> Any:
    """A list setting given as text (an env var or a flag): "8,8,8" -> ["8", "8", "8"]."""
    return [part.strip() for part in value.split(",")] if isinstance(value, str) else value


Ints = Annotated[tuple[int, ...], BeforeValidator(_comma_separated)]
Floats = Annotated[tuple[float, ...], BeforeValidator(_comma_separated)]
Folder = Annotated[Path, AfterValidator(lambda path: path.expanduser())]


@dataclass
class FeatureSettings:
    """How a job becomes features (saved with every model)."""

    n_features: int = 2**15  # hashed bag-of-words width (title and description share it)
    max_tokens: int = 256  # ordered hashed token ids kept per job for the convolution
    pos_tagger: str = "fast"  # "fast" (lexicon tagger, default) or "spacy" (accurate, slower)
    # a sentence embedding of each job beside the bag in the wide path (features/embedding.py):
    # "minilm-static" (default) all-MiniLM-L6-v2's word pieces distilled once per machine to
    # static vectors; "minilm" the network itself (the accurate mode, ~25-55 jobs/s to
    # featurize, see README); "none" the bag alone (the fastest)
    embedder: str = "minilm-static"
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
    batch_size: int = 64  # the autoencoder's and an update's SGD batches
    tagger_batch_size: int = 64  # the deep path's batches in training ...
    lr: float = 2e-3  # ... and its learning rate
    patience: int = 5
    dropout: float = 0.2
    hidden: Ints = (200, 150, 100, 50, 25)
    # hidden layers as wide as their input add their output to it (x + layer(x)). The deep path
    # alone on dev splits of train (3 seeds, mean of micro- and macro-F1, categories / skills /
    # Reuters): the plain (200, 150, 100, 50, 25) stack .41 / .38 / .57; with residual=True,
    # hidden 5 x 256, pos_weight_cap 1, lr 4e-3, tagger_batch_size 256 (the benchmark's
    # jobtag-residual row) .54 / .47 / .67; beside the SVM it moved the dev test splits'
    # micro-F1 by +.004 / -.001 / +.002 only (so not the default; README)
    residual: bool = False
    min_tag_jobs: int = 1  # tags with fewer labeled jobs are not learned
    min_calibration_positives: int = 3  # rarer tags use the global threshold
    # pull per-tag thresholds toward the global one (pseudo-count of positives; 30 with the
    # out-of-fold calibration's ten times as many positives as the validation slice's)
    threshold_shrink: float = 30.0
    # the deep path's weight (see deep_cross_fit), calibration and thresholds from out-of-fold
    # scores of every labeled job (this many folds) instead of the validation slice; 0 = the slice
    calibration_folds: int = 5
    min_one_tag: bool = True  # a job whose scores pass no threshold gets its top tag
    ae_embed_dim: int = 64
    ae_channels: int = 128
    ae_kernel: int = 3
    ae_lr: float = 2e-3
    wide: bool = True  # linear path on the TF-IDF bag summed into the logits (False = seed model)
    wide_C: float = 1.0  # the wide SVM's C when there is no validation slice to choose it on
    wide_C_grid: Floats = (0.3, 1.0, 3.0)  # C values tried on the validation slice
    embedding_weight: float = 0.5  # scale of the sentence embedding beside the unit-norm bag
    # with an embedder: "joint" (default) = one SVM on the bag and the embedding; "stacked" =
    # each tag's SVM reads the bag and its ridge regression's margin on the embedding
    # (training/embedfit.py: 0.45-0.8x the training time, but on Reuters its test micro-F1 swung
    # .846-.889 with the names' weights chosen on validation, where joint's stayed .890)
    embedding_fit: Literal["joint", "stacked"] = "joint"
    # the joint fit reads the embedding's columns on their top this many principal directions
    # (training/embedfit.py: 0.28-0.55x the fit's time, held-out micro-F1 within .0015); 0 = all
    embedding_rank: int = 256
    # the wide path's SVM fits run in a thread beside the deep path's training (a second core)
    wide_beside_deep: bool = True
    embedding_ridge_penalty: float = 1.0  # the stacked fit's ridge penalty ...
    embedding_stack_scale: float = 3.0  # ... and its column's scale beside the bag
    # the deep path reads the sentence vectors (features.embedder) beside the code and the
    # text features, on their top this many principal directions (0: it reads none)
    deep_embedding: int = 128
    # weights of the deep path beside the wide one tried on validation (units: std ratio)
    deep_weights: Floats = (0.0, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0)
    deep_min_gain: float = 0.01  # validation gain (mean of micro and macro F1) a deep weight needs
    # with calibration_folds: the deep path is cross-fitted too (on the same folds) and its
    # weight is chosen on the out-of-fold scores of every labeled job instead of the slice, where
    # it needs this gain (ten times the jobs: far less noise than the slice's)
    deep_cross_fit: bool = True
    deep_min_gain_out_of_fold: float = 0.0
    # ... but only when the validation slice's gain for it was at least this (None: always);
    # otherwise its weight is 0 without the five out-of-fold fits and the refit
    deep_cross_fit_min_gain: float | None = None
    # the tag names' evidence (models/names.py) beside the paths, chosen on validation:
    # its weight when a job has the name's words anywhere, and more when in the title, and
    # (accurate mode) when the title is close to the name in meaning (units: std of the wide
    # margins), and the labeled jobs of a tag at which it has faded to half (0 = never fades)
    name_weights: Floats = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)
    title_name_weights: Floats = (0.0, 0.5, 1.0, 2.0)
    semantic_name_weights: Floats = (0.0, 1.0, 2.0, 4.0, 8.0)  # title ~ name (with an embedder)
    name_pseudo_counts: Floats = (30.0, 0.0)
    finetune_encoder: bool = False  # train the encoder end to end with the tagger (slower)
    encoder_lr_scale: float = 0.5  # the fine-tuned encoder's learning rate / lr
    # BCE positive weight = min(cap, negatives/positives) per tag; 1 = none (jobtag-residual's:
    # a cap of 10 cost the deep path alone .015-.02 on a categories dev split, one seed)
    pos_weight_cap: float = 10.0
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
    # when the deep path counts in the served model: an update fine-tunes it (on the new jobs +
    # the replay), and the autoencoder under it too (its codes move, so the deep path follows)
    fine_tune_deep: bool = False
    fine_tune_autoencoder: bool = True
    judge_fraction: float = 0.3  # share of the labeled jobs new to the model that judge an update
    promote_tolerance: float = 0.0  # old tags' micro-F1 on the judge jobs may drop this much ...
    promote_z: float = 1.0  # ... plus this many standard errors of the paired difference
    judge_bootstrap: int = 400  # bootstrap resamples behind that standard error
    refit_iterations: int = 30  # at most this many Newton steps of the warm-started wide refit
    fold_iterations: int = 10  # ... and of folding the judge jobs into a promoted model
    keep_versions: int = 5  # model files kept beside the active one: 5 rollback targets + 5 others


class Settings(BaseSettings):
    """Everything configurable in jobtag (build it with `load_settings`)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX.lower(), env_nested_delimiter=NESTED, extra="forbid"
    )

    home: Folder = Field(default_factory=default_home)
    db_url: str | None = None  # default: sqlite file in `home`
    features: FeatureSettings = Field(default_factory=FeatureSettings)
    train: TrainSettings = Field(default_factory=TrainSettings)
    update: UpdateSettings = Field(default_factory=UpdateSettings)

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{self.home / 'jobtag.db'}"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The layers, first wins: flags, environment, TOML file, defaults (see load_settings)."""
        layers = _LAYERS.get(None)
        if layers is None:  # Settings(...) on its own: the defaults and what is passed
            return (init_settings,)
        environ, config_file = layers
        sources: list[PydanticBaseSettingsSource] = [
            init_settings,
            _Environment(settings_cls, environ),
        ]
        if config_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        # the home default follows the given environment, not the process's
        sources.append(InitSettingsSource(settings_cls, {"home": default_home(environ)}))
        return tuple(sources)


# what the sources of the Settings being built by load_settings read: (environment, TOML file)
_LAYERS: ContextVar[tuple[Mapping[str, str], Path | None]] = ContextVar("jobtag_config_layers")


def _sections() -> set[str]:
    return {
        name
        for name, info in Settings.model_fields.items()
        if isinstance(info.annotation, type) and is_dataclass(info.annotation)
    }


class _Environment(EnvSettingsSource):
    """JOBTAG_DB and JOBTAG_<SECTION>__<KEY> from a given environment (not only os.environ).

    JOBTAG_HOME and JOBTAG_CONFIG choose the folder and the file (`default_home`, `load_settings`);
    a nested key of an unknown section is an error, as a typo should be.
    """

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        env: dict[str, str | None] = {}
        if self._environ.get("JOBTAG_DB"):
            env[f"{ENV_PREFIX}db_url".lower()] = self._environ["JOBTAG_DB"]
        sections = _sections()
        for key, value in self._environ.items():
            if not (key.startswith(ENV_PREFIX) and NESTED in key):
                continue
            dotted = key[len(ENV_PREFIX) :].lower().replace(NESTED, ".")
            section = dotted.split(".")[0]
            if section in Settings.model_fields and section not in sections:
                raise ConfigError(f"unknown setting {dotted!r} (from {key})")
            if section not in sections:
                raise ConfigError(f"unknown setting section {section!r} in {dotted!r} (from {key})")
            # a key's own case (train.wide_C_grid), from its lowercased name in the variable
            name = dotted.split(".", 1)[1] if "." in dotted else ""
            name = _field_names(section).get(name, name)
            env[f"{ENV_PREFIX.lower()}{section}{NESTED}{name}"] = value
        return env


def _field_names(section: str) -> dict[str, str]:
    """A section's setting names by their lowercased form ("wide_c" -> "wide_C")."""
    cls = Settings.model_fields[section].annotation
    assert cls is not None and is_dataclass(cls)
    return {f.name.lower(): f.name for f in fields(cls)}


def _nested(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """{"train.seed": 3, "db_url": None} -> {"train": {"seed": 3}}; None values are left out."""
    out: dict[str, Any] = {}
    for key, value in overrides.items():
        if value is None:
            continue
        *sections, leaf = key.split(".")
        node = out
        for section in sections:
            node = node.setdefault(section, {})
        node[leaf] = value
    return out


def _config_error(exc: ValidationError) -> ConfigError:
    """pydantic's errors, each named by its dotted setting."""
    problems = []
    for err in exc.errors():
        key = ".".join(part for part in err["loc"] if isinstance(part, str))
        if err["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
            whole_section = isinstance(err["input"], dict) and "." not in key
            problems.append(f"unknown setting{' section' if whole_section else ''} {key!r}")
        else:
            problems.append(f"setting {key!r}: cannot use {err['input']!r} ({err['msg']})")
    return ConfigError("; ".join(problems))


def _config_file(
    config_file: str | os.PathLike[str] | None, environ: Mapping[str, str]
) -> Path | None:
    """The TOML file to read: explicit, $JOBTAG_CONFIG (both must exist), or HOME/jobtag.toml."""
    path = config_file or environ.get("JOBTAG_CONFIG")
    candidate = Path(path) if path else default_home(environ) / "jobtag.toml"
    if path and not candidate.is_file():
        raise ConfigError(f"config file not found: {candidate}")
    return candidate if candidate.is_file() else None


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    overrides: dict[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Defaults, then the TOML file (explicit, $JOBTAG_CONFIG or HOME/jobtag.toml), env, flags."""
    environ = dict(os.environ) if environ is None else environ
    path = _config_file(config_file, environ)
    token = _LAYERS.set((environ, path))
    try:
        return Settings(**_nested(overrides or {}))
    except ValidationError as exc:
        raise _config_error(exc) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path}: {exc}") from exc
    finally:
        _LAYERS.reset(token)
