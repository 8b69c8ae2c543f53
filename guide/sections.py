"""The review guide's sections: their order, stable slugs, titles, the anchors others link to, and the
catalogue category each category section explains. The text is in templates/guide/sections/<slug>.html.

Slugs and anchors are links other pages, messages and decision records print: never rename one.
"""

from __future__ import annotations

from dataclasses import dataclass

RUNNING, EVIDENCE, CATEGORIES = "Running a review", "Evidence", "The 14 categories"
PARTS = (RUNNING, EVIDENCE, CATEGORIES)


@dataclass(frozen=True)
class Section:
    slug: str
    title: str
    part: str
    category: str = ""  # the catalogue code of the category it explains
    # (anchor id, title) of the places inside the section that messages and pages link to. Anchors are
    # unique across the guide, because the index shows every section on one page.
    anchors: tuple[tuple[str, str], ...] = ()

    @property
    def template(self) -> str:
        return f"guide/sections/{self.slug}.html"


SECTIONS: tuple[Section, ...] = (
    Section("review", "A review and who does what", RUNNING),
    Section(
        "meeting",
        "The meeting in 13 steps",
        RUNNING,
        anchors=tuple((f"step-{n}", f"The meeting, step {n}") for n in range(1, 14)),
    ),
    Section("scorecard", "The scorecard", RUNNING),
    Section(
        "severity-levels",
        "Severity levels",
        RUNNING,
        anchors=(("finding-sources", "Where findings come from"),),
    ),
    Section(
        "gate",
        "The gate",
        RUNNING,
        anchors=(
            ("gate-outcomes", "The gate's outcomes"),
            ("category-minimums", "Category minimums"),
            ("release-flags", "The release flags"),
            ("chair-judgement", "The chair's judgement"),
        ),
    ),
    Section(
        "exceptions",
        "Exceptions",
        RUNNING,
        anchors=(("four-eyes", "Four eyes on a signature"),),
    ),
    Section("loosening", "Loosening a finding", RUNNING),
    Section(
        "decision-record",
        "The decision record",
        RUNNING,
        anchors=(
            ("final-questions", "The final questions"),
            ("verifying-a-record", "Verifying a decision record"),
            ("carry-over", "What carries into the next review"),
        ),
    ),
    Section("signing-in", "Signing in and team roles", RUNNING),
    Section(
        "notifications",
        "Notifications to other tools",
        RUNNING,
        anchors=(("verifying-a-notification", "Verifying a notification"),),
    ),
    Section(
        "evidence",
        "Evidence, verdicts and freshness",
        EVIDENCE,
        anchors=(
            ("what-evidence-shows", "What evidence shows"),
            ("evidence-verdicts", "Evidence verdicts"),
            ("freshness", "Evidence freshness"),
        ),
    ),
    Section(
        "evidence-records",
        "Evidence records",
        EVIDENCE,
        anchors=(
            ("restore-drill", "Restore drill"),
            ("runbook", "Runbook"),
            ("runbook-test", "Runbook test"),
            ("migration-rehearsal", "Migration rehearsal"),
            ("load-test", "Load test"),
            ("access-pattern", "Access pattern"),
            ("derived-store", "Derived store"),
            ("capacity-envelope", "Capacity envelope"),
            ("links-and-files", "Links and files"),
        ),
    ),
    Section(
        "inventories-and-plans",
        "Inventories and plans",
        EVIDENCE,
        anchors=(
            ("invariant-inventory", "Invariant inventory"),
            ("write-path", "Write path"),
            ("concurrency-test", "Concurrency test matrix"),
            ("forecasts", "Capacity forecasts"),
            ("migration-plan", "Migration plan"),
            ("recovery-objectives", "Recovery objectives"),
            ("signals", "Signals"),
            ("dashboards", "Dashboards"),
            ("alert-rules", "Alert rules"),
            ("privacy-inventory", "Privacy inventory"),
            ("importing-inventories", "Importing inventories"),
        ),
    ),
    Section(
        "checklists",
        "Checklists and critical items",
        EVIDENCE,
        anchors=(
            ("critical-items", "Critical checklist items"),
            ("catalogue-as-code", "Editing the catalogue"),
        ),
    ),
    Section("claims", "Claims", EVIDENCE),
    Section(
        "probes",
        "Probes",
        EVIDENCE,
        anchors=(("probe-results", "Probe results"), ("invariant-checks", "Invariant checks")),
    ),
    Section("ownership-and-authority", "Ownership and authority", CATEGORIES, "ownership"),
    Section("data-model-and-invariants", "Data model and invariants", CATEGORIES, "data-model"),
    Section("schema-and-physical-design", "Schema and physical design", CATEGORIES, "schema"),
    Section("query-and-index", "Query and index", CATEGORIES, "query-index"),
    Section("transactions-and-concurrency", "Transactions and concurrency", CATEGORIES, "transaction"),
    Section("migration-and-compatibility", "Migration and compatibility", CATEGORIES, "migration"),
    Section("backup-and-restore", "Backup and restore", CATEGORIES, "backup"),
    Section("replication-and-failover", "Replication and failover", CATEGORIES, "replication"),
    Section("observability-and-alerting", "Observability and alerting", CATEGORIES, "observability"),
    Section("security-and-access-control", "Security and access control", CATEGORIES, "security"),
    Section("privacy-retention-and-compliance", "Privacy, retention and compliance", CATEGORIES, "privacy"),
    Section("integration-and-derived-data", "Integration and derived data", CATEGORIES, "integration"),
    Section("capacity-performance-and-cost", "Capacity, performance and cost", CATEGORIES, "capacity"),
    Section(
        "runbooks-and-incident-response",
        "Runbooks and incident response",
        CATEGORIES,
        "runbooks",
        anchors=(("required-runbooks", "Required runbooks"), ("runbook-template", "The runbook template")),
    ),
)

BY_SLUG: dict[str, Section] = {s.slug: s for s in SECTIONS}
BY_CATEGORY: dict[str, Section] = {s.category: s for s in SECTIONS if s.category}


def get(slug: str) -> Section | None:
    return BY_SLUG.get(slug)


def parts() -> list[tuple[str, list[Section]]]:
    """The table of contents: each part with its sections, in order."""
    return [(part, [s for s in SECTIONS if s.part == part]) for part in PARTS]


def neighbours(section: Section) -> tuple[Section | None, Section | None]:
    i = SECTIONS.index(section)
    return (SECTIONS[i - 1] if i > 0 else None, SECTIONS[i + 1] if i + 1 < len(SECTIONS) else None)
