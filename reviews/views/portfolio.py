"""The portfolio: every visible system's current scores, gate, decision and open P0/P1, as a heatmap or CSV.

A fixed number of queries whatever the number of systems: the rows are built in bulk and sorted in Python
(the gate outcome is computed, not stored), so every column sorts the same way. Every row is built from
plain values (no model instance but the system), and its cells only when it is drawn or exported: with 500
systems the page is mostly Python, and this is where its time goes (bench/portfolio.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import OuterRef, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET

from .. import csv_export, gatefacts, policy, standing
from .. import gate as gate_rules
from ..models import (
    CatalogueVersion,
    Category,
    CategoryScore,
    Decision,
    Finding,
    FindingStatus,
    Review,
    ReviewState,
    RiskException,
)

OUTCOMES = [o.value for o in gate_rules.GateOutcome]
OUTCOME_LABELS = {o.value: o.label for o in gate_rules.GateOutcome}
FIXED_SORTS = ("system", "team", "outcome", "decision", "decided", "next_review", "p0", "p1")


MINIMUM_RULES = frozenset(
    f"minimum:{code}"
    for code in (gate_rules.BACKUP, gate_rules.SECURITY, gate_rules.MIGRATION, gate_rules.OBSERVABILITY)
)
PORTFOLIO_PAGE = 100  # rows drawn per page; filters, sorting and the summary cover all of them


@dataclass(slots=True)
class Cell:
    code: str
    score: int | None
    no_evidence: bool = False  # a 2–3 without any evidence (the gate counts it as 1)
    only_stale: bool = False  # a 2–3 whose evidence has all gone stale
    url: str = ""

    @property
    def mark(self) -> str:
        return "no-evidence" if self.no_evidence else "stale" if self.only_stale else ""

    @property
    def text(self) -> str:
        if self.score is None:
            return "–"
        return f"{self.score}{'*' if self.no_evidence else '†' if self.only_stale else ''}"


@dataclass(slots=True)
class Row:
    system: object
    review_id: int | None
    gate: gate_rules.GateResult | None
    decision_outcome: str | None
    decision_id: int | None
    decided_at: datetime | None
    next_review: date | None
    overdue: bool
    p0: int
    p1: int
    # Per column (the newest catalogue's categories): the score, the evidence and the fresh evidence.
    scores: list[int | None] = field(default_factory=list)
    evidence: list[int] = field(default_factory=list)
    fresh: list[int] = field(default_factory=list)
    below_minimum: set[str] = field(default_factory=set)
    html: str = ""
    # The system's outcome across every review that counts (reviews.standing); `gate` is the gate of
    # `review_id`, the review it comes from.
    standing: str = ""
    open_reviews: int = 0

    @property
    def outcome(self) -> str:
        return self.standing or (self.gate.outcome.value if self.gate else "")

    def cells(self, codes: list[str], url=None) -> list[Cell]:
        """The row's heatmap cells; `url(review_id, code)` links each to its category."""
        if self.review_id is None:
            return [Cell(code, None) for code in codes]
        cells = []
        for code, score, n, fresh in zip(codes, self.scores, self.evidence, self.fresh, strict=True):
            high = score is not None and score >= gate_rules.EVIDENCE_REQUIRED_FROM
            cells.append(
                Cell(
                    code,
                    score,
                    high and n == 0,
                    high and n > 0 and fresh == 0,
                    url(self.review_id, code) if url else "",
                )
            )
        return cells


def _columns() -> list[Category]:
    version = CatalogueVersion.objects.filter(published=True).order_by("-number").first()
    if version is None:
        return []
    return list(Category.objects.filter(version=version).order_by("number"))


def _url_template(name: str, *marks):
    """reverse() once and fill the arguments in by str.format: reverse per cell costs ~40 µs, and a page
    has 1,400 cells. The marks must be unique in the URL and survive it unchanged."""
    pattern = reverse(name, args=marks).replace("{", "{{").replace("}", "}}")
    for mark in marks:
        pattern = pattern.replace(str(mark), "{}", 1)
    return pattern.format


def _outcome_html(outcome: str) -> str:
    label = OUTCOME_LABELS.get(outcome, "Not yet decidable")
    return f'<span class="outcome outcome-{outcome.lower()}">{label}</span>'


def _row_html(r: Row, *, codes: list[str], grouped: bool, urls: dict) -> str:
    """One heatmap row as HTML (built here, not by the template engine, which takes ~2 ms a row)."""
    s = r.system
    team = "" if grouped else f' <span class="muted small">{escape(s.team.name)}</span>'
    parts = [
        f'<tr data-system="{escape(s.slug)}"><th class="sys" scope="row">'
        f'<a href="{urls["system"](s.slug)}">{escape(s.name)}</a>{team}</th>'
    ]
    for c in r.cells(codes, urls["cell"]):
        cls = "s-none" if c.score is None else f"s-{c.score}"
        if c.mark:
            cls += f" m-{c.mark}"
        if c.url:
            detail = "not scored" if c.score is None else str(c.score)
            if c.no_evidence:
                detail += ", no evidence"
            elif c.only_stale:
                detail += ", only stale evidence"
            parts.append(
                f'<td class="cell {cls}"><a href="{c.url}" title="{c.code}: {detail}">{c.text}</a></td>'
            )
        else:
            parts.append(f'<td class="cell {cls}"><span class="muted">·</span></td>')
    if r.gate:
        more = (
            f' <span class="muted small">· {r.open_reviews} open reviews</span>' if r.open_reviews > 1 else ""
        )
        parts.append(f'<td><a href="{urls["review"](r.review_id)}">{_outcome_html(r.outcome)}</a>{more}</td>')
    else:
        parts.append('<td><span class="muted">no review</span></td>')
    if r.decision_id:
        parts.append(
            f'<td><a href="{urls["decision"](r.decision_id)}">{_outcome_html(r.decision_outcome)}</a></td>'
        )
    else:
        parts.append('<td><span class="muted">never</span></td>')
    parts.append(f"<td>{timezone.localtime(r.decided_at):%Y-%m-%d}</td>" if r.decided_at else "<td>—</td>")
    if r.next_review:
        overdue = ' class="overdue"' if r.overdue else ""
        parts.append(
            f"<td><span{overdue}>{r.next_review:%Y-%m-%d}{' · overdue' if r.overdue else ''}</span></td>"
        )
    else:
        parts.append("<td>—</td>")
    for level, n in (("p0", r.p0), ("p1", r.p1)):
        parts.append(f'<td><span class="level level-{level}">{n}</span></td>' if n else "<td>0</td>")
    parts.append("</tr>")
    return "".join(parts)


@dataclass(slots=True)
class _Facts:
    """A current review's gate inputs as plain values, aligned with its catalogue's categories."""

    catalogue_id: int
    schema_changing: bool | None
    production_traffic: bool | None
    scores: list
    evidence: list
    fresh: list
    owned: list = field(default_factory=list)  # per category: the score has an owner
    judged: list = field(default_factory=list)  # per category: gatefacts.EvidenceFacts
    critical: list = field(default_factory=list)  # per category: its critical items and answers
    findings: list = field(default_factory=list)
    created_at: datetime | None = None
    # Open P0/P1 findings as (id, carried_from id, level): a copy carried into an open review stands for
    # its origin in the decided one, which is then not counted twice.
    open_p: list = field(default_factory=list)


def _review_facts(ids: list[int], *, now: datetime) -> tuple[dict[int, _Facts], dict[int, list[Category]]]:
    """Every current review's scores, what the gate believes of its evidence (gatefacts, as every page),
    its critical checklist items and unresolved findings with their exceptions: eight queries, plain
    values (model instances cost ~1 s for 500 reviews)."""
    facts: dict[int, _Facts] = {}
    reviews = Review.objects.filter(pk__in=ids).order_by()
    for rid, catalogue_id, schema_changing, production_traffic, created_at in reviews.values_list(
        "id", "catalogue_id", "schema_changing", "production_traffic", "created_at"
    ):
        facts[rid] = _Facts(
            catalogue_id, schema_changing, production_traffic, [], [], [], created_at=created_at
        )
    categories: dict[int, list[Category]] = {}
    for c in Category.objects.filter(version_id__in={f.catalogue_id for f in facts.values()}).order_by(
        "number"
    ):
        categories.setdefault(c.version_id, []).append(c)
    position = {c.pk: (i, c.code) for cats in categories.values() for i, c in enumerate(cats)}
    for f in facts.values():
        n = len(categories.get(f.catalogue_id, ()))
        f.scores, f.evidence, f.fresh = [None] * n, [0] * n, [0] * n
        f.owned, f.judged, f.critical = [False] * n, [gatefacts.NO_EVIDENCE] * n, [()] * n
    for rid, category_id, score, owner_id in (
        CategoryScore.objects.filter(review_id__in=ids)
        .order_by()
        .values_list("review_id", "category_id", "score", "owner_id")
    ):
        i = position[category_id][0]
        facts[rid].scores[i], facts[rid].owned[i] = score, owner_id is not None
    for (rid, category_id), judged in gatefacts.evidence_facts(ids, now=now).items():
        i = position[category_id][0]
        f = facts[rid]
        f.evidence[i], f.fresh[i], f.judged[i] = judged.count, judged.fresh, judged
    catalogue_of = {rid: f.catalogue_id for rid, f in facts.items()}
    for (rid, category_id), items in gatefacts.critical_items(catalogue_of).items():
        facts[rid].critical[position[category_id][0]] = items
    exceptions: dict[int, list[gate_rules.ExceptionIn]] = {}
    for finding_id, state, expires_at in (
        RiskException.objects.filter(finding__review_id__in=ids, finding__level__in=["P0", "P1"])
        .exclude(finding__status=FindingStatus.RESOLVED)
        .order_by()
        .values_list("finding_id", "state", "expires_at")
    ):
        exceptions.setdefault(finding_id, []).append(gate_rules.ExceptionIn(state, expires_at))
    for fid, rid, title, level, status, category_id, carried_from, item_id in (
        Finding.objects.filter(review_id__in=ids)
        .exclude(status=FindingStatus.RESOLVED)
        .order_by("level", "-created_at", "-id")  # as on every page, so the reasons come in the same order
        .values_list(
            "id",
            "review_id",
            "title",
            "level",
            "status",
            "category_id",
            "carried_from_id",
            "checklist_item_id",
        )
    ):
        f = facts[rid]
        code = position[category_id][1] if category_id in position else ""
        f.findings.append(
            gate_rules.FindingIn(fid, title, level, status, code, tuple(exceptions.get(fid, ())), item_id)
        )
        if status == FindingStatus.OPEN and level in ("P0", "P1"):
            f.open_p.append((fid, carried_from, level))
    return facts, categories


def _gate(f: _Facts, categories: list[Category], score_ins: dict, now: datetime) -> gate_rules.GateResult:
    """The same pure gate as every page, from the same facts (gatefacts). Score inputs are shared between
    reviews: they are immutable and most repeat, which saves building 7,000 of them for 500 rows."""
    scores = []
    for i, c in enumerate(categories):
        key = (c.pk, f.scores[i], f.owned[i], f.judged[i], f.critical[i])
        score_in = score_ins.get(key)
        if score_in is None:
            score_in = score_ins[key] = gatefacts.score_in(
                code=c.code,
                name=c.name,
                score=f.scores[i],
                has_owner=f.owned[i],
                evidence=f.judged[i],
                critical=f.critical[i],
                minimum=gatefacts.minimum_of(c),
            )
        scores.append(score_in)
    return gate_rules.evaluate(
        gate_rules.GateInput(
            schema_changing=f.schema_changing,
            production_traffic=f.production_traffic,
            scores=tuple(scores),
            findings=tuple(f.findings),
            now=now,
        )
    )


def portfolio_rows(user, *, today: date, now: datetime) -> tuple[list[Category], list[Row]]:
    """The columns (the 14 categories of the newest catalogue) and one row per visible system.

    A row stands for every review that counts for the system (reviews.standing: its open reviews and its
    latest decision's review): the outcome is the worst of them, the cells and reasons are those of the
    review it comes from, and the P0/P1 counts add up the open ones of all of them."""
    columns = _columns()
    codes = [c.code for c in columns]
    newest_decision = Decision.objects.filter(system=OuterRef("pk")).order_by("-recorded_at", "-id")
    systems = list(
        # No DISTINCT: a user has one membership per team (membership_one_role_per_team).
        policy.visible_systems(user)
        .select_related("team")
        .only("id", "name", "slug", "team__id", "team__name", "team__slug")
        .annotate(
            decision_id=Subquery(newest_decision.values("pk")[:1]),
            decision_review_id=Subquery(newest_decision.values("review_id")[:1]),
            decision_outcome=Subquery(newest_decision.values("outcome")[:1]),
            decided_at=Subquery(newest_decision.values("recorded_at")[:1]),
            decision_next_review=Subquery(newest_decision.values("next_review")[:1]),
        )
        .order_by("team__name", "name")
    )
    open_ids: dict[int, list[int]] = {}
    for rid, sid in (
        Review.objects.filter(system__in=[s.pk for s in systems])
        .exclude(state=ReviewState.DECIDED)
        .order_by("-created_at", "-id")
        .values_list("id", "system_id")
    ):
        open_ids.setdefault(sid, []).append(rid)
    wanted = [rid for rids in open_ids.values() for rid in rids]
    wanted += [s.decision_review_id for s in systems if s.decision_review_id]
    facts, categories = _review_facts(wanted, now=now)
    # Where each column sits in a catalogue's categories (the newest catalogue: in order).
    column_at = {
        version_id: [next((i for i, c in enumerate(cats) if c.code == code), None) for code in codes]
        for version_id, cats in categories.items()
    }
    score_ins: dict = {}
    rows = []
    for s in systems:
        counted = []  # (outcome, review id, facts, gate), newest first
        for rid in open_ids.get(s.pk, []):
            f = facts[rid]
            gate = _gate(f, categories.get(f.catalogue_id, []), score_ins, now)
            counted.append((gate.outcome, rid, f, gate))
        if s.decision_review_id and s.decision_review_id in facts:
            f = facts[s.decision_review_id]
            gate = _gate(f, categories.get(f.catalogue_id, []), score_ins, now)
            counted.append(
                (standing.decided_outcome(s.decision_outcome, gate), s.decision_review_id, f, gate)
            )
        counted.sort(key=lambda c: (c[2].created_at, c[1]), reverse=True)
        worst = min(counted, key=lambda c: standing.SEVERITY[c[0]], default=None)
        carried = {origin for c in counted for _, origin, _ in c[2].open_p if origin}
        open_p = [level for c in counted for fid, _, level in c[2].open_p if fid not in carried]
        row = Row(
            system=s,
            review_id=worst[1] if worst else None,
            gate=None,
            decision_outcome=s.decision_outcome,
            decision_id=s.decision_id,
            decided_at=s.decided_at,
            next_review=s.decision_next_review,
            overdue=bool(s.decision_next_review and s.decision_next_review < today),
            p0=open_p.count("P0"),
            p1=open_p.count("P1"),
            open_reviews=len(open_ids.get(s.pk, [])),
        )
        if worst is not None:
            outcome, _rid, f, row.gate = worst
            row.standing = outcome.value
            at = column_at.get(f.catalogue_id, [])
            if at == list(range(len(codes))):
                row.scores, row.evidence, row.fresh = f.scores, f.evidence, f.fresh
            else:  # an older catalogue: its categories under the newest catalogue's columns
                row.scores = [None if i is None else f.scores[i] for i in at]
                row.evidence = [0 if i is None else f.evidence[i] for i in at]
                row.fresh = [0 if i is None else f.fresh[i] for i in at]
            row.below_minimum = {
                r.category_code for r in row.gate.reasons if r.rule in MINIMUM_RULES and r.status != "met"
            }
        rows.append(row)
    return columns, rows


def _sort_key(sort: str, codes: list[str]):
    def none_last(value):
        return (value is None, value if value is not None else 0)

    if sort in codes:
        i = codes.index(sort)
        return lambda r: (none_last(r.scores[i] if r.scores else None), r.system.name.lower())
    return {
        "system": lambda r: r.system.name.lower(),
        "team": lambda r: (r.system.team.name.lower(), r.system.name.lower()),
        "outcome": lambda r: (OUTCOMES.index(r.outcome) if r.outcome else 99, r.system.name.lower()),
        "decision": lambda r: (r.decision_outcome or "~", r.system.name.lower()),
        "decided": lambda r: (none_last(r.decided_at and r.decided_at.timestamp()), r.system.name.lower()),
        "next_review": lambda r: (
            none_last(r.next_review and r.next_review.toordinal()),
            r.system.name.lower(),
        ),
        "p0": lambda r: (r.p0, r.system.name.lower()),
        "p1": lambda r: (r.p1, r.system.name.lower()),
    }.get(sort, lambda r: (r.system.team.name.lower(), r.system.name.lower()))


def _filtered_sorted(
    request: HttpRequest, columns: list[Category], rows: list[Row]
) -> tuple[list[Row], dict]:
    codes = [c.code for c in columns]
    params = {
        "team": request.GET.get("team", ""),
        "outcome": request.GET.get("outcome", ""),
        "overdue": request.GET.get("overdue", "") == "1",
        "sort": request.GET.get("sort", "team"),
        "dir": "desc" if request.GET.get("dir") == "desc" else "asc",
    }
    if params["sort"] not in FIXED_SORTS and params["sort"] not in codes:
        params["sort"] = "team"
    if params["team"]:
        rows = [r for r in rows if r.system.team.slug == params["team"]]
    if params["outcome"] in OUTCOMES:
        rows = [r for r in rows if r.outcome == params["outcome"]]
    elif params["outcome"] == "none":
        rows = [r for r in rows if r.gate is None]
    if params["overdue"]:
        rows = [r for r in rows if r.overdue]
    rows = sorted(rows, key=_sort_key(params["sort"], codes), reverse=params["dir"] == "desc")
    return rows, params


def _query(params: dict, **changes) -> str:
    merged = {**params, **changes}
    parts = []
    for key in ("team", "outcome", "overdue", "sort", "dir"):
        value = merged.get(key)
        if value is True:
            value = "1"
        if value:
            parts.append(f"{key}={value}")
    return "?" + "&".join(parts)


@login_required
@require_GET
def portfolio(request: HttpRequest) -> HttpResponse:
    today, now = timezone.localdate(), timezone.now()
    columns, all_rows = portfolio_rows(request.user, today=today, now=now)
    rows, params = _filtered_sorted(request, columns, all_rows)
    if request.GET.get("format") == "csv":
        return _csv(columns, rows)
    urls = {
        "system": _url_template("system_detail", "system-slug-mark"),
        "review": _url_template("review_detail", 999999002),
        "decision": _url_template("decision_detail", 999999003),
        "cell": _url_template("review_checklist", 999999001, "category-code-mark"),
    }
    grouped = params["sort"] == "team"
    codes = [c.code for c in columns]
    # Every row is filtered, sorted and counted in the summary; only a page of them is drawn.
    page = Paginator(rows, PORTFOLIO_PAGE).get_page(request.GET.get("page"))
    for row in page:
        row.html = mark_safe(_row_html(row, codes=codes, grouped=grouped, urls=urls))  # noqa: S308 — every text escaped
    groups: list[tuple[object, list[Row]]] = []
    if params["sort"] == "team" or not params["sort"]:
        for row in page:
            if not groups or groups[-1][0] != row.system.team:
                groups.append((row.system.team, []))
            groups[-1][1].append(row)
    else:
        groups = [(None, list(page))]
    headers = [
        {
            "key": key,
            "label": label,
            "title": title,
            "url": _query(
                params, sort=key, dir="desc" if params["sort"] == key and params["dir"] == "asc" else "asc"
            ),
            "active": params["sort"] == key,
        }
        for key, label, title in [
            ("system", "System", "System"),
            *[(c.code, str(c.number), c.name) for c in columns],
            ("outcome", "Gate now", "Current gate outcome"),
            ("decision", "Last decision", "Last recorded decision"),
            ("decided", "Decided", "Date of the last decision"),
            ("next_review", "Next review", "Next review date"),
            ("p0", "P0", "Open P0 findings"),
            ("p1", "P1", "Open P1 findings"),
        ]
    ]
    summary = [sum(1 for r in rows if c.code in r.below_minimum) for c in columns]
    minimum_codes = {gate_rules.BACKUP, gate_rules.SECURITY, gate_rules.MIGRATION, gate_rules.OBSERVABILITY}
    return render(
        request,
        "portfolio/portfolio.html",
        {
            "columns": columns,
            "headers": headers,
            "groups": groups,
            "rows": rows,
            "page": page,
            "page_query": "&" + _query(params)[1:] if _query(params) != "?" else "",
            "total": len(all_rows),
            "params": params,
            "teams": policy.visible_teams(request.user).order_by("name").distinct(),
            "outcomes": [(o.value, o.label) for o in gate_rules.GateOutcome],
            "summary": [(c, n, c.code in minimum_codes) for c, n in zip(columns, summary, strict=True)],
            "csv_url": _query(params) + ("&" if _query(params) != "?" else "") + "format=csv",
        },
    )


def _csv(columns: list[Category], rows: list[Row]) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="portfolio.csv"'
    out = csv_export.writer(response)
    out.writerow(
        [
            "team",
            "system",
            *[c.code for c in columns],
            "gate_outcome",
            "last_decision",
            "decided_at",
            "next_review",
            "overdue",
            "open_p0",
            "open_p1",
            "no_evidence",
            "only_stale_evidence",
        ]
    )
    codes = [c.code for c in columns]
    for r in rows:
        cells = r.cells(codes)
        out.writerow(
            [
                r.system.team.name,
                r.system.name,
                *["" if c.score is None else c.score for c in cells],
                r.outcome,
                r.decision_outcome or "",
                r.decided_at.date().isoformat() if r.decided_at else "",
                r.next_review.isoformat() if r.next_review else "",
                "yes" if r.overdue else "no",
                r.p0,
                r.p1,
                " ".join(c.code for c in cells if c.no_evidence),
                " ".join(c.code for c in cells if c.only_stale),
            ]
        )
    return response
