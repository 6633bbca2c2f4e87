"""Model versions: register, list, promote one to active, roll back to the previously active one."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from jobtag.errors import InputError, NotFound
from jobtag.store import schema as S
from jobtag.store.sqlutil import dumps, loads, transaction

log = logging.getLogger(__name__)

PRUNED = " (files pruned)"  # the end of a version's note once its checkpoint files are deleted


@dataclass(frozen=True)
class ModelVersion:
    """One registered model: where its checkpoint lies, its status and its metrics."""

    version: int
    path: str
    status: str  # candidate | active | retired
    metrics: dict[str, Any]
    note: str
    created_at: dt.datetime
    promoted_at: dt.datetime | None

    @property
    def pruned(self) -> bool:
        """Its checkpoint files were deleted (see `prune_models`)."""
        return self.note.endswith(PRUNED)


def _model(row: Any) -> ModelVersion:
    return ModelVersion(
        version=int(row.version),
        path=row.path,
        status=row.status,
        metrics=loads(row.metrics),
        note=row.note,
        created_at=row.created_at,
        promoted_at=row.promoted_at,
    )


class RegistryMixin:
    """Model-version methods of JobStore (needs `engine` and `url`)."""

    engine: sa.Engine
    url: str

    def register_model(
        self, path: str, metrics: dict[str, Any], status: str = S.CANDIDATE, note: str = ""
    ) -> int:
        """Record a saved model; returns its new version number (1, 2, ...). `status='active'`
        promotes it at once (the previously active one is retired)."""
        if status not in S.MODEL_STATUSES:
            raise InputError(
                f"model status must be one of {', '.join(S.MODEL_STATUSES)}: {status!r}"
            )
        mv = S.model_versions
        for attempt in range(5):
            try:
                with transaction(self.engine, "registering a model") as (conn, _):
                    current = conn.execute(sa.select(sa.func.max(mv.c.version))).scalar()
                    version = int(current or 0) + 1
                    now = S.utcnow()
                    conn.execute(
                        mv.insert().values(
                            version=version,
                            path=str(path),
                            status=S.CANDIDATE,
                            metrics=dumps(metrics),
                            note=note,
                            created_at=now,
                            promoted_at=None,
                        )
                    )
                    if status == S.ACTIVE:
                        self._activate(conn, version)
                    elif status == S.RETIRED:
                        conn.execute(
                            mv.update().where(mv.c.version == version).values(status=S.RETIRED)
                        )
                log.info("registered model version %d (%s) at %s", version, status, path)
                return version
            except Exception as exc:  # a concurrent register took the number: try the next one
                if attempt == 4 or not isinstance(exc.__cause__, sa.exc.IntegrityError):
                    raise
        raise AssertionError("unreachable")

    def get_model(self, version: int) -> ModelVersion:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(S.model_versions).where(S.model_versions.c.version == int(version))
            ).first()
        if row is None:
            raise NotFound(f"no model version {version} in {self.url}")
        return _model(row)

    def list_models(self) -> list[ModelVersion]:
        """All model versions, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(S.model_versions).order_by(S.model_versions.c.version)
            ).all()
        return [_model(r) for r in rows]

    def active_model(self) -> ModelVersion | None:
        """The model that serves predictions, or None when none was promoted yet."""
        mv = S.model_versions
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(mv).where(mv.c.status == S.ACTIVE).order_by(mv.c.version.desc())
            ).first()
        return None if row is None else _model(row)

    def set_model_note(
        self, version: int, note: str, metrics: dict[str, Any] | None = None
    ) -> None:
        """Replace a version's note (and metrics when given), e.g. why it was not promoted."""
        mv = S.model_versions
        values: dict[str, Any] = {"note": note}
        if metrics is not None:
            values["metrics"] = dumps(metrics)
        with transaction(self.engine, f"updating model version {version}") as (conn, _):
            if (
                conn.execute(
                    mv.update().where(mv.c.version == int(version)).values(values)
                ).rowcount
                == 0
            ):
                raise NotFound(f"no model version {version} in {self.url}")

    def prune_models(self, keep: int) -> list[ModelVersion]:
        """Mark the versions whose checkpoint files may go: all but the active one, the `keep`
        newest rollback targets (previously active, newest promotion first) and the `keep` newest
        other versions. A marked version is retired, leaves the rollback chain and cannot be
        promoted; its note ends with PRUNED. Returns them (the caller deletes their files)."""
        mv = S.model_versions
        pruned = []
        with transaction(self.engine, "pruning model versions") as (conn, _):
            rows = [_model(r) for r in conn.execute(sa.select(mv)).all()]
            live = [m for m in rows if m.status != S.ACTIVE and not m.pruned]
            targets = sorted(
                (m for m in live if m.promoted_at is not None),
                key=lambda m: (m.promoted_at, m.version),
                reverse=True,
            )
            others = sorted((m for m in live if m.promoted_at is None), key=lambda m: -m.version)
            for m in sorted(targets[keep:] + others[keep:], key=lambda m: m.version):
                done = conn.execute(
                    mv.update()
                    .where(mv.c.version == m.version, mv.c.status != S.ACTIVE)
                    .values(status=S.RETIRED, promoted_at=None, note=m.note + PRUNED)
                ).rowcount
                if done:
                    pruned.append(m)
        if pruned:
            log.info("pruned model versions %s", ", ".join(str(m.version) for m in pruned))
        return pruned

    def _activate(self, conn: sa.Connection, version: int) -> None:
        mv = S.model_versions
        conn.execute(
            mv.update()
            .where(mv.c.status == S.ACTIVE, mv.c.version != version)
            .values(status=S.RETIRED)
        )
        conn.execute(
            mv.update()
            .where(mv.c.version == version)
            .values(status=S.ACTIVE, promoted_at=S.utcnow())
        )

    def promote(self, version: int) -> ModelVersion:
        """Make `version` the active model (the active one becomes retired); NotFound if unknown."""
        mv = S.model_versions
        with transaction(self.engine, f"promoting model version {version}") as (conn, _):
            found = conn.execute(
                sa.select(mv.c.version, mv.c.note).where(mv.c.version == int(version))
            ).first()
            if found is None:
                raise NotFound(f"no model version {version} in {self.url}")
            if found.note.endswith(PRUNED):
                raise InputError(
                    f"model version {version} cannot be promoted: its files were pruned"
                )
            self._activate(conn, int(version))
        log.info("model version %d is now active", version)
        return self.get_model(version)

    def rollback(self) -> ModelVersion:
        """Reactivate the model that was active before the current one; the current one is retired
        and forgets its activation, so repeated rollbacks walk further back. NotFound when there is
        no active model or nothing to go back to."""
        mv = S.model_versions
        with transaction(self.engine, "rolling back the model") as (conn, _):
            current = conn.execute(
                sa.select(mv.c.version, mv.c.promoted_at)
                .where(mv.c.status == S.ACTIVE)
                .order_by(mv.c.version.desc())
            ).first()
            if current is None:
                raise NotFound(f"no active model to roll back from in {self.url}")
            previous = conn.execute(
                sa.select(mv.c.version)
                .where(
                    mv.c.version != current.version,
                    mv.c.promoted_at.is_not(None),
                    mv.c.promoted_at <= current.promoted_at,
                )
                .order_by(mv.c.promoted_at.desc(), mv.c.version.desc())
            ).first()
            if previous is None:
                raise NotFound(
                    f"model version {current.version} is the first one promoted: nothing to roll back to"
                )
            conn.execute(
                mv.update()
                .where(mv.c.version == current.version)
                .values(status=S.RETIRED, promoted_at=None)
            )
            conn.execute(
                mv.update().where(mv.c.version == previous.version).values(status=S.ACTIVE)
            )
        log.info("rolled back from model version %d to %d", current.version, previous.version)
        return self.get_model(previous.version)
