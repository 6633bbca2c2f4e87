"""CLI commands around the model: train, predict, evaluate, feedback, update, models, demo, serve."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import click

from jobtag.cli_common import Context, emit_json, progress_bar
from jobtag.errors import InputError


@click.command()
@click.option("--seed", type=int, help="Random seed (default from config).")
@click.option("--ae-epochs", type=int, help="Autoencoder epochs.")
@click.option("--epochs", type=int, help="Tagger epochs (maximum; early stopping).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def train(
    obj: Context, seed: int | None, ae_epochs: int | None, epochs: int | None, as_json: bool
) -> None:
    """Train a new model on the jobs in the store (autoencoder, then tagger) and activate it."""
    flags = {"seed": seed, "ae_epochs": ae_epochs, "tagger_epochs": epochs}  # beat the config
    for name, value in flags.items():
        if value is not None:
            setattr(obj.settings.train, name, value)
    result = obj.tagger.train(progress=sys.stderr.isatty() and not as_json)
    out = {
        "version": result.version,
        "path": str(result.path),
        "seconds": round(result.seconds, 1),
        "validation": result.metrics,
        # how the served model scores: the seed's deep path's weight beside the wide SVM
        # (0 = not used; chosen on out-of-fold scores of every labeled job) and the SVM's C
        # (chosen on the validation slice)
        "deep_weight": result.summary.get("deep_weight"),
        "wide_C": result.summary.get("wide_C"),
        # the out-of-fold score (mean of micro- and macro-F1) of each deep weight tried
        "deep_weights_out_of_fold": result.summary.get("out_of_fold_deep"),
        # the tag names' weights (anywhere, title, title's meaning; std of the SVM margins) and
        # the labeled jobs of a tag at which they fade to half (0: never)
        "name_weights": result.summary.get("name_weights"),
        # micro/macro-F1 of the out-of-fold scores of every labeled job that the calibration
        # and thresholds were chosen on (None: the validation slice chose them)
        "out_of_fold": result.summary.get("out_of_fold"),
        "labeled_jobs": result.summary.get("labeled_jobs"),
        "unlabeled_jobs": result.summary.get("unlabeled_jobs"),
    }
    if as_json:
        emit_json(out)
        return
    click.echo(f"trained model v{result.version} in {result.seconds:.1f}s -> {result.path}")
    click.echo(
        f"  {out['labeled_jobs']} labeled + {out['unlabeled_jobs']} unlabeled jobs; "
        f"deep-path weight {out['deep_weight']} beside the wide SVM (C={out['wide_C']})"
    )
    if out["name_weights"]:
        *weights, fade = out["name_weights"]
        click.echo(
            "  tag names' weights (anywhere / title / meaning) "
            + " / ".join(f"{w:g}" for w in weights)
            + (f", fading to half at {fade:g} labeled jobs" if fade else ", no fade")
        )
    if out["out_of_fold"]:
        oof = out["out_of_fold"]
        click.echo(
            f"  calibrated on every labeled job out of fold: micro-F1 {oof['micro_f1']:.3f}, "
            f"macro-F1 {oof['macro_f1']:.3f}"
        )
    for key in ("micro_f1", "macro_f1", "samples_f1", "precision_micro", "recall_micro"):
        if key in result.metrics:
            click.echo(f"  validation {key:16s} {result.metrics[key]:.3f}")


@click.command()
@click.option("--title", help="Job title.")
@click.option("--description", default="", help="Job description (HTML or text).")
@click.option("--job-id", help="Your id for the job (feedback refers to it).")
@click.option(
    "--input",
    "input_path",
    type=click.Path(path_type=Path),
    help="CSV (header row) or JSONL of jobs, gzip allowed; columns: job_id (optional, generated "
    "when empty), title or job_title, description or job_description, company_id, company_name.",
)
@click.option(
    "--output",
    "output_path",
    type=click.Path(path_type=Path),
    help="CSV (job_id, tags, scores, error) or *.jsonl out; a bad input row becomes a row whose "
    "error names its line.",
)
@click.option("--strict", is_flag=True, help="Stop at the first bad row (exit 3, no output).")
@click.option("--explain", is_flag=True, help="Add the words behind each tag.")
@click.option("--top-k", type=int, help="Show only the K best scores.")
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON object.")
@click.option("--no-record", is_flag=True, help="Do not store the jobs and predictions.")
@click.option(
    "--no-update", is_flag=True, help="Do not run a due model update afterwards (it is announced)."
)
@click.pass_obj
def predict(
    obj: Context,
    title: str | None,
    description: str,
    job_id: str | None,
    input_path: Path | None,
    output_path: Path | None,
    strict: bool,
    explain: bool,
    top_k: int | None,
    as_json: bool,
    no_record: bool,
    no_update: bool,
) -> None:
    """Tag one job (--title/--description) or a file of jobs (--input, --output)."""
    from jobtag.records import make_job
    from jobtag.updating import run_update, update_due

    tagger = obj.tagger
    if input_path is None:
        if title is None:
            raise InputError("give --title (and --description), or --input FILE")
        job = make_job(title, description, job_id)
        pred = tagger.predict([job], record=not no_record, explain=explain)[0]
        if as_json:
            emit_json(pred.to_dict(top_k))
        else:
            click.echo(f"tags: {', '.join(pred.tags) or '(none above threshold)'}")
            for tag, score in list(pred.scores.items())[: top_k or 5]:
                click.echo(f"  {score:.3f}  {tag}")
            for tag, why in (pred.explanations or {}).items():
                words = ", ".join(w["word"] for w in why["for"]) or "(no word)"
                against = ", ".join(w["word"] for w in why["against"])
                click.echo(
                    f"  {tag} because: {words}" + (f"; against: {against}" if against else "")
                )
    else:
        _predict_file(tagger, input_path, output_path, strict, explain, top_k, as_json, no_record)
    if not no_record and not no_update and tagger.settings.update.auto:
        due = update_due(tagger)
        if due is not None:
            click.echo(
                f"model update: running now because {due} (--no-update skips it) ...", err=True
            )
            result = run_update(tagger, progress=False)
            click.echo(f"model update: {result.summary()}", err=True)


def _predict_file(  # noqa: PLR0913 - the batch options of `predict`
    tagger: Any,
    input_path: Path,
    output_path: Path | None,
    strict: bool,
    explain: bool,
    top_k: int | None,
    as_json: bool,
    no_record: bool,
) -> None:
    """The batch part of `predict`: errors by line on stderr, a summary (or JSON object) at the end."""
    from jobtag.predict_files import predict_file

    fmt = "jsonl" if output_path and ".jsonl" in output_path.name else "csv"
    buffer = io.StringIO() if as_json and output_path is None else None
    bar = progress_bar(None, "predict")
    try:
        result = predict_file(
            tagger,
            input_path,
            output_path or buffer or sys.stdout,
            fmt="jsonl" if buffer is not None else fmt,
            strict=strict,
            record=not no_record,
            explain=explain,
            top_k=top_k,
            on_error=lambda msg: click.echo(f"warning: {msg}", err=True),
            progress=bar.update,
        )
    finally:
        bar.close()
    summary = {"input": str(input_path), **result.to_dict()}
    if buffer is not None:  # --json without --output: the predictions inside the one object
        summary["predictions"] = [json.loads(x) for x in buffer.getvalue().splitlines()]
    if as_json:
        emit_json(summary)
        return
    click.echo(
        f"predicted {result.predicted} jobs, {len(result.errors)} bad row(s)"
        + (f" -> {output_path}" if output_path else ""),
        err=True,
    )


@click.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON object.")
@click.option(
    "--report", "report_dir", type=click.Path(path_type=Path), help="Write an HTML report."
)
@click.pass_obj
def evaluate(obj: Context, file: Path, as_json: bool, report_dir: Path | None) -> None:
    """Score a labeled file in the row format against the active model."""
    result = obj.tagger.evaluate_file(file, report_dir)
    if report_dir is not None:
        click.echo(f"report written to {result.pop('report')}", err=True)
    per_tag = result.pop("per_tag", None)
    if as_json:
        emit_json(result)
        return
    for key in (
        "micro_f1",
        "macro_f1",
        "samples_f1",
        "precision_micro",
        "recall_micro",
        "p_at_1",
        "hamming_loss",
        "subset_accuracy",
        "binary_accuracy",
    ):
        click.echo(f"{key:16s} {result[key]:.4f}")
    click.echo(f"jobs {result['jobs']}, model v{result['model_version']}")
    if result.get("unknown_tags"):
        click.echo(f"tags unknown to the model: {', '.join(result['unknown_tags'])}")
    if per_tag:
        click.echo("(per-tag figures: --report DIR)")


@click.command()
@click.argument("job_id", required=False)
@click.option("--tags", help="Comma-separated corrected tag set.")
@click.option("--file", "file", type=click.Path(path_type=Path), help="CSV/JSONL: job_id, tags.")
@click.option("--who", help="Who made the correction.")
@click.pass_obj
def feedback(
    obj: Context, job_id: str | None, tags: str | None, file: Path | None, who: str | None
) -> None:
    """Record corrected tags for a job (the truth from now on; new tags are allowed)."""
    from jobtag.jobfiles import read_feedback_file

    if file is not None:
        n = 0
        for fid, ftags in read_feedback_file(file):
            obj.tagger.feedback(fid, ftags, who=who, source=f"file:{file.name}")
            n += 1
        click.echo(f"recorded {n} corrections from {file}")
        return
    if not job_id or tags is None:
        raise InputError("give JOB_ID --tags 'a,b' or --file FILE")
    obj.tagger.feedback(job_id, tags.split(","), who=who, source="cli")
    click.echo(f"recorded tags for job {job_id}")
