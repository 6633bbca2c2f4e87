"""A synthetic job board: titles, HTML descriptions and tags correlated with vocabulary (demo, tests)."""

from __future__ import annotations

import csv
import gzip
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from jobtag.records import Job
from jobtag.store.readers import COLUMNS, TAG_COLUMN

# Each tag: title words and description vocabulary that signal it. Hand-written for this project.
TAG_VOCAB: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "Backend": (
        ("Backend Developer", "Server Engineer", "API Engineer"),
        ("api", "microservices", "database", "server", "rest", "queue", "latency", "scalable"),
    ),
    "Frontend": (
        ("Frontend Developer", "UI Engineer", "Web Developer"),
        ("css", "react", "browser", "components", "responsive", "accessibility", "javascript"),
    ),
    "python": (
        ("Python Developer", "Django Engineer"),
        ("python", "django", "flask", "pandas", "pytest", "asyncio"),
    ),
    "Data Science": (
        ("Data Scientist", "Machine Learning Engineer", "Data Analyst"),
        ("statistics", "models", "experiments", "regression", "forecasting", "notebooks", "sql"),
    ),
    "DevOps": (
        ("DevOps Engineer", "Site Reliability Engineer", "Platform Engineer"),
        ("kubernetes", "terraform", "monitoring", "pipelines", "cloud", "incidents", "linux"),
    ),
    "Sales": (
        ("Account Executive", "Sales Representative", "Business Development Manager"),
        ("quota", "pipeline", "clients", "negotiation", "revenue", "prospects", "crm"),
    ),
    "Marketing": (
        ("Marketing Specialist", "Growth Marketer", "Content Manager"),
        ("campaigns", "brand", "seo", "social", "content", "audience", "analytics"),
    ),
    "Recruiting": (
        ("Recruiter", "Talent Acquisition Specialist", "HR Business Partner"),
        ("candidates", "hiring", "interviews", "sourcing", "onboarding", "talent", "offers"),
    ),
    "Customer Support": (
        ("Support Specialist", "Customer Success Manager", "Help Desk Agent"),
        ("tickets", "customers", "support", "escalations", "satisfaction", "chat", "resolve"),
    ),
    "Design": (
        ("Product Designer", "UX Designer", "Graphic Designer"),
        ("figma", "prototypes", "wireframes", "typography", "usability", "visual", "research"),
    ),
    "Finance": (
        ("Accountant", "Financial Analyst", "Controller"),
        ("ledger", "budget", "audit", "invoices", "reporting", "tax", "reconciliation"),
    ),
    "Mobile": (
        ("Android Developer", "iOS Engineer", "Mobile Developer"),
        ("android", "ios", "swift", "kotlin", "app", "store", "devices"),
    ),
}

# Tags that tend to come together (a job may get the second when it has the first).
CO_TAGS = {
    "Backend": "python",
    "Data Science": "python",
    "Frontend": "Design",
    "Mobile": "Frontend",
}

FILLER = (
    "team",
    "work",
    "experience",
    "company",
    "growing",
    "responsible",
    "collaborate",
    "skills",
    "communication",
    "office",
    "remote",
    "benefits",
    "years",
    "strong",
    "knowledge",
    "projects",
    "we",
    "you",
    "will",
    "our",
)
GENERIC_TITLES = ("Associate", "Specialist", "Consultant", "Team Member", "Engineer", "Analyst")
COMPANIES = ("Acme Corp", "Globex", "Initech", "Umbrella Labs", "Hooli", "Vandelay Industries")
SENIORITY = ("Junior", "Senior", "Lead", "", "", "Principal")


@dataclass
class BoardSpec:
    """Size of a synthetic board."""

    jobs: int = 1200
    unlabeled_fraction: float = 0.25
    noise: float = 0.85  # share of description words that are filler or from other tags
    generic_title: float = 0.3  # share of titles that say nothing about the tag
    seed: int = 7


def _description(rng: random.Random, tags: list[str], noise: float) -> str:
    words: list[str] = []
    for _ in range(rng.randint(15, 50)):
        if rng.random() < noise:
            if rng.random() < 0.5:
                other = rng.choice(list(TAG_VOCAB))
                words.append(rng.choice(TAG_VOCAB[other][1]))
            else:
                words.append(rng.choice(FILLER))
        else:
            words.append(rng.choice(TAG_VOCAB[rng.choice(tags)][1]))
    # Split into a few sentences and HTML blocks, as job boards send them.
    sentences = [" ".join(words[i : i + 9]).capitalize() + "." for i in range(0, len(words), 9)]
    items = "".join(f"<li>{s}</li>" for s in sentences[1:])
    html = f"<p>{sentences[0]} We&#39;re hiring &amp; you&#39;ll love it!</p><ul>{items}</ul>"
    if rng.random() < 0.2:  # some boards escape the HTML once more
        html = html.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return html


def generate_jobs(spec: BoardSpec | None = None, start_id: int = 1) -> Iterator[Job]:
    """Yield synthetic jobs; labeled ones carry their tags, the rest have tags=None."""
    spec = spec or BoardSpec()
    rng = random.Random(spec.seed)
    names = list(TAG_VOCAB)
    weights = [1.0 / (1 + i * 0.35) for i in range(len(names))]  # a long tail of rarer tags
    for n in range(spec.jobs):
        main = rng.choices(names, weights=weights)[0]
        tags = [main]
        if main in CO_TAGS and rng.random() < 0.5:
            tags.append(CO_TAGS[main])
        role = (
            rng.choice(GENERIC_TITLES)
            if rng.random() < spec.generic_title
            else rng.choice(TAG_VOCAB[main][0])
        )
        title = f"{rng.choice(SENIORITY)} {role}".strip()
        labeled = rng.random() >= spec.unlabeled_fraction
        company = rng.randrange(len(COMPANIES))
        yield Job(
            job_id=str(start_id + n),
            title=title,
            description=_description(rng, tags, spec.noise),
            company_id=str(company + 1),
            company_name=COMPANIES[company],
            tags=frozenset(tags) if labeled else None,
        )


ROW_COLUMNS = (*COLUMNS, "job_tag_id", TAG_COLUMN)


def write_rows(jobs: list[Job] | Iterator[Job], path: Path) -> int:
    """Write jobs in the row format (one row per job and tag; .gz compresses). Returns rows written."""
    tag_ids = {name: i + 1 for i, name in enumerate(TAG_VOCAB)}
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if path.suffix == ".gz" else open
    rows = 0
    with opener(path, "wt", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(ROW_COLUMNS)
        for job in jobs:
            base = [job.job_id, job.title, job.description, job.company_id, job.company_name]
            for tag in sorted(job.tags or ()) or [None]:
                writer.writerow(
                    [*base, "" if tag is None else tag_ids.get(tag, ""), "" if tag is None else tag]
                )
                rows += 1
    return rows
