"""The domain exception hierarchy; the CLI maps it to exit codes, the HTTP API to statuses."""

from __future__ import annotations


class JobtagError(Exception):
    """Base of every error jobtag raises on purpose. `exit_code` / `http_status` say how to report it."""

    exit_code = 1
    http_status = 500


class ConfigError(JobtagError):
    """A setting is missing or invalid."""

    exit_code = 2
    http_status = 500


class InputError(JobtagError):
    """User input (a file, a row, a field, an argument) is malformed; the message names where."""

    exit_code = 3
    http_status = 422


class StoreError(JobtagError):
    """The job store failed (schema, constraint, transaction)."""

    exit_code = 4
    http_status = 500


class DatabaseUnavailable(StoreError):
    """The database cannot be reached or opened."""

    exit_code = 5
    http_status = 503


class NotFound(JobtagError):
    """A job, tag or model version that was asked for does not exist."""

    exit_code = 6
    http_status = 404


class ModelError(JobtagError):
    """A model file is missing, corrupt or incompatible with this version of jobtag."""

    exit_code = 7
    http_status = 500


class NoModel(ModelError):
    """No trained model exists yet (run `jobtag train`)."""

    exit_code = 8
    http_status = 409


class TrainingError(JobtagError):
    """Training cannot run (e.g. too few labeled jobs)."""

    exit_code = 9
    http_status = 409


class LockBusy(JobtagError):
    """Another process holds the update lock."""

    exit_code = 10
    http_status = 409
