"""The review domain: teams, systems, the versioned catalogue, reviews, scores, findings,
exceptions, decisions, claims and the audit trail (seed §1–§4, §21)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower, Trim
from django.urls import reverse
from django.utils import timezone


class Role(models.TextChoices):
    ARCHITECT = "architect", "Architect"
    LEAD = "lead", "Team lead"
    MEMBER = "member", "Member"
    AUDITOR = "auditor", "Auditor"


class Team(models.Model):
    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=120, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)

    class Meta:
        ordering = ["team__name", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["user", "team"], name="membership_one_role_per_team"),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="membership_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()} of {self.team}"


class InstallationAuditor(models.Model):
    """A user who reads every team's systems, reviews and audit trail and changes nothing (seed §14).
    A team's auditor membership covers one team; this row covers the installation. Granted in the
    admin, and the grant is audited like a membership."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="installation_auditor"
    )
    granted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["user__username"]

    def __str__(self) -> str:
        return f"{self.user} · installation-wide auditor"


class System(models.Model):
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="systems")
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    source_of_truth = models.TextField(
        blank=True,
        help_text="What this database is authoritative for, and what it only derives or caches.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="system_name_unique_per_team")]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("system_detail", args=[self.slug])


# --- The catalogue: versioned, so a later edit never changes what an old review was scored against.


class CatalogueVersion(models.Model):
    number = models.PositiveIntegerField(unique=True)
    label = models.CharField(max_length=120)
    published = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-number"]

    def __str__(self) -> str:
        return f"v{self.number} · {self.label}"


# When a category's gate minimum applies: always, or when the review's release flag of that name is yes.
MINIMUM_WHEN = [
    ("always", "Always"),
    ("schema_changing", "Schema-changing release"),
    ("production_traffic", "Production traffic"),
]
BUILT_IN_CATEGORIES = 14  # numbers 1–14; an organisation's own categories are numbered from 15


class Category(models.Model):
    version = models.ForeignKey(CatalogueVersion, on_delete=models.PROTECT, related_name="categories")
    code = models.SlugField(max_length=40)
    number = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=120)
    section = models.CharField(
        max_length=10, help_text="For engineers: the part of the source checklist it was written from."
    )
    description = models.TextField(blank=True)
    # The gate's minimum for this category (reviews.gate): at least `minimum_score`, always or only when
    # the release flag `minimum_when` is yes. Null: no minimum. Version 1: backup and security always,
    # migration on schema-changing releases, observability under production traffic, each at least 2.
    minimum_score = models.PositiveSmallIntegerField(null=True, blank=True)
    minimum_when = models.CharField(max_length=20, choices=MINIMUM_WHEN, blank=True)

    class Meta:
        ordering = ["version", "number"]
        verbose_name_plural = "categories"
        constraints = [
            models.UniqueConstraint(fields=["version", "code"], name="category_code_unique_per_version"),
            models.UniqueConstraint(fields=["version", "number"], name="category_number_unique_per_version"),
            # 1–14: the built-in categories; an organisation's own categories follow from 15.
            models.CheckConstraint(condition=Q(number__gte=1), name="category_number_positive"),
            models.CheckConstraint(
                condition=(Q(minimum_score__isnull=True) & Q(minimum_when=""))
                | (
                    Q(minimum_score__gte=1)
                    & Q(minimum_score__lte=3)
                    & Q(minimum_when__in=[w for w, _ in MINIMUM_WHEN])
                ),
                name="category_minimum_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number}. {self.name}"


class ChecklistItem(models.Model):
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="items")
    code = models.CharField(max_length=120)
    section = models.CharField(max_length=10)
    text = models.TextField()
    guidance = models.TextField(blank=True)
    position = models.PositiveSmallIntegerField(default=0)
    # The level of the finding a "No" opens, for the items the guide treats as blockers or serious
    # findings (seed §3's P0 examples, each category's blocker smells). Null: an ordinary item.
    # A critical item not answered Yes (or N/A, with a reason) caps its category at 1 in the gate.
    critical_level = models.CharField(
        max_length=2, choices=[("P0", "P0 blocker"), ("P1", "P1 serious")], null=True, blank=True
    )

    class Meta:
        ordering = ["category__number", "position"]
        constraints = [
            models.UniqueConstraint(fields=["category", "code"], name="item_code_unique_per_category"),
            models.CheckConstraint(
                condition=Q(critical_level__isnull=True) | Q(critical_level__in=["P0", "P1"]),
                name="item_critical_level_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.code


# --- Reviews


class ReviewState(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_MEETING = "in_meeting", "In meeting"
    DECIDED = "decided", "Decided"


AGENDA_STEPS = (
    "State the release scope",
    "Ownership and source-of-truth boundary",
    "Critical invariants",
    "Top write paths",
    "Top read paths and query plans",
    "Migration plan",
    "Backup and restore evidence",
    "Observability and alerting",
    "Security and privacy",
    "Runbooks",
    "Score readiness categories",
    "Record blockers and exceptions",
    "Assign owners and dates",
)


class Review(models.Model):
    system = models.ForeignKey(System, on_delete=models.PROTECT, related_name="reviews")
    catalogue = models.ForeignKey(CatalogueVersion, on_delete=models.PROTECT, related_name="reviews")
    release_scope = models.CharField(max_length=200)
    scope_notes = models.TextField(blank=True)
    # No default: the chair answers both (null until then, and the gate cannot decide).
    schema_changing = models.BooleanField(null=True, blank=True)
    production_traffic = models.BooleanField(null=True, blank=True)
    state = models.CharField(max_length=16, choices=ReviewState.choices, default=ReviewState.DRAFT)
    chair = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="chaired_reviews",
        null=True,
        blank=True,
    )
    current_step = models.PositiveSmallIntegerField(default=1)
    next_review_date = models.DateField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(current_step__gte=1) & Q(current_step__lte=13), name="review_step_1_to_13"
            ),
            models.CheckConstraint(condition=Q(state__in=ReviewState.values), name="review_state_valid"),
            models.CheckConstraint(condition=~Q(release_scope=""), name="review_scope_required"),
            # Two open reviews of one release would each answer for it; the service says so first.
            models.UniqueConstraint(
                models.F("system"),
                Lower(Trim("release_scope")),
                condition=~Q(state=ReviewState.DECIDED),
                name="review_one_open_per_scope",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.system} — {self.release_scope}"

    def get_absolute_url(self) -> str:
        return reverse("review_detail", args=[self.pk])

    @property
    def is_frozen(self) -> bool:
        return self.state == ReviewState.DECIDED


class CategoryScore(models.Model):
    """A 0–3 score of one category in one review (seed §4). A row exists once someone scores it."""

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="scores")
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="+")
    score = models.PositiveSmallIntegerField()
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_scores", null=True, blank=True
    )
    notes = models.TextField(blank=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(default=timezone.now)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["category__number"]
        constraints = [
            models.UniqueConstraint(fields=["review", "category"], name="score_one_per_category"),
            models.CheckConstraint(condition=Q(score__gte=0) & Q(score__lte=3), name="score_0_to_3"),
        ]

    def __str__(self) -> str:
        return f"{self.category.name}: {self.score}"


class Answer(models.TextChoices):
    YES = "yes", "Yes"
    NO = "no", "No"
    NOT_APPLICABLE = "na", "Not applicable"
    UNKNOWN = "unknown", "Unknown"


class ChecklistAnswer(models.Model):
    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="answers")
    item = models.ForeignKey(ChecklistItem, on_delete=models.PROTECT, related_name="+")
    answer = models.CharField(max_length=8, choices=Answer.choices)
    note = models.TextField(blank=True)
    evidence = models.ForeignKey(
        "evidence.Evidence", on_delete=models.SET_NULL, null=True, blank=True, related_name="answers"
    )
    answered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    answered_at = models.DateTimeField(default=timezone.now)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["review", "item"], name="answer_one_per_item"),
            models.CheckConstraint(condition=Q(answer__in=Answer.values), name="answer_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.item.code}: {self.answer}"


class Level(models.TextChoices):
    P0 = "P0", "P0 blocker"
    P1 = "P1", "P1 serious"
    P2 = "P2", "P2 moderate"
    P3 = "P3", "P3 improvement"


class FindingStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"
    ACCEPTED = "accepted", "Accepted"


class Resolution(models.TextChoices):
    """How a resolved finding was closed: fixed (with a note and evidence for a P0/P1), or found not to be
    an issue (for a P0/P1 only through a confirmed loosening). Both leave the gate as resolved."""

    FIXED = "fixed", "Fixed"
    NOT_AN_ISSUE = "not_an_issue", "Not an issue"


class FindingSource(models.TextChoices):
    MANUAL = "manual", "Person"
    PROBE = "probe", "Probe"
    CHECKLIST = "checklist", "Checklist"  # a critical item answered No
    EVIDENCE = "evidence", "Evidence"  # a typed record that does not support readiness


class Finding(models.Model):
    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="findings")
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="+")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    level = models.CharField(max_length=2, choices=Level.choices)
    status = models.CharField(max_length=10, choices=FindingStatus.choices, default=FindingStatus.OPEN)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="owned_findings",
        null=True,
        blank=True,
    )
    due_date = models.DateField(null=True, blank=True)
    source = models.CharField(max_length=10, choices=FindingSource.choices, default=FindingSource.MANUAL)
    # For probe findings: "<probe id>:<object>", one finding per (probe, object) and review.
    probe_key = models.CharField(max_length=300, blank=True)
    # What opened it, when not a person: the critical checklist item answered No, or the evidence record
    # that failed. One finding per (review, item) and per (review, record): answering again or saving
    # the record again does not open another.
    checklist_item = models.ForeignKey(
        ChecklistItem, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    evidence = models.ForeignKey(
        "evidence.Evidence", on_delete=models.SET_NULL, null=True, blank=True, related_name="findings"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True
    )
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # Set when a person resolves it ("" for older rows and for what a probe run resolved).
    resolution = models.CharField(max_length=16, choices=Resolution.choices, blank=True)
    resolution_note = models.TextField(blank=True)
    # The finding of an earlier, decided review that this one carries forward (reviews.carryover): the
    # follow-up the last decision left open. Resolving this copy resolves it "later" for the origin.
    carried_from = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="carried_to"
    )
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["level", "-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(level__in=Level.values), name="finding_level_valid"),
            models.CheckConstraint(condition=Q(status__in=FindingStatus.values), name="finding_status_valid"),
            models.CheckConstraint(condition=Q(source__in=FindingSource.values), name="finding_source_valid"),
            models.CheckConstraint(
                condition=~Q(level=Level.P2) | (Q(owner__isnull=False) & Q(due_date__isnull=False)),
                name="finding_p2_has_dated_owner",
            ),
            models.CheckConstraint(condition=~Q(title=""), name="finding_title_required"),
            models.UniqueConstraint(
                fields=["review", "probe_key"],
                condition=~Q(probe_key=""),
                name="finding_one_per_probe_object",
            ),
            models.CheckConstraint(
                condition=Q(status=FindingStatus.RESOLVED) | Q(resolution=""),
                name="finding_resolution_only_when_resolved",
            ),
            models.UniqueConstraint(
                fields=["review", "checklist_item"],
                condition=Q(checklist_item__isnull=False),
                name="finding_one_per_checklist_item",
            ),
            models.UniqueConstraint(
                fields=["review", "evidence"],
                condition=Q(evidence__isnull=False),
                name="finding_one_per_evidence",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.level} {self.title}"


class LooseningKind(models.TextChoices):
    LOWER_LEVEL = "lower_level", "Lower the level"
    ACCEPT = "accept", "Close as accepted"
    NOT_AN_ISSUE = "not_an_issue", "Close as not an issue"


class LooseningState(models.TextChoices):
    PROPOSED = "proposed", "Awaiting confirmation"
    CONFIRMED = "confirmed", "Confirmed"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"


class Loosening(models.Model):
    """A proposal to lower a P0/P1, or close one as accepted or not an issue (reviews.loosening). Nobody
    loosens alone: until an architect or lead of the team other than the proposer confirms it, the
    finding keeps its level and status. The row is the chain the gate, the pages and the record show."""

    finding = models.ForeignKey(Finding, on_delete=models.CASCADE, related_name="loosenings")
    kind = models.CharField(max_length=16, choices=LooseningKind.choices)
    from_level = models.CharField(max_length=2, choices=Level.choices)
    from_status = models.CharField(max_length=10, choices=FindingStatus.choices)
    to_level = models.CharField(max_length=2, choices=Level.choices)
    to_status = models.CharField(max_length=10, choices=FindingStatus.choices)
    to_resolution = models.CharField(max_length=16, choices=Resolution.choices, blank=True)
    reason = models.TextField()
    proposed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    proposed_at = models.DateTimeField(default=timezone.now)
    state = models.CharField(max_length=10, choices=LooseningState.choices, default=LooseningState.PROPOSED)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-proposed_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=LooseningKind.values), name="loosening_kind_valid"),
            models.CheckConstraint(
                condition=Q(state__in=LooseningState.values), name="loosening_state_valid"
            ),
            models.CheckConstraint(condition=~Q(reason=""), name="loosening_reason_required"),
            # Four eyes: confirming or rejecting is someone else's act. Withdrawing is the proposer's own.
            models.CheckConstraint(
                condition=Q(state=LooseningState.WITHDRAWN) | ~Q(decided_by=models.F("proposed_by")),
                name="loosening_four_eyes",
            ),
            models.CheckConstraint(
                condition=Q(state=LooseningState.PROPOSED)
                | (Q(decided_by__isnull=False) & Q(decided_at__isnull=False)),
                name="loosening_decided_has_decider",
            ),
            models.UniqueConstraint(
                fields=["finding"],
                condition=Q(state=LooseningState.PROPOSED),
                name="loosening_one_open_per_finding",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.finding}"

    @property
    def is_open(self) -> bool:
        return self.state == LooseningState.PROPOSED

    @property
    def summary(self) -> str:
        """What it changes, in the words the pages use: "Lower to P3", "Close as not an issue"."""
        if self.kind == LooseningKind.LOWER_LEVEL:
            return f"Lower {self.from_level} to {self.to_level}"
        what = "accepted" if self.kind == LooseningKind.ACCEPT else "not an issue"
        lowered = f" at {self.to_level}" if self.to_level != self.from_level else ""
        return f"Close {self.from_level} as {what}{lowered}"


class ScoreRaise(models.Model):
    """A proposal to reopen a score below a minimum: raise backup, security, migration safety (schema-
    changing release) or observability (production traffic) from 0–1 to 2 or more (reviews.score_raise).
    Raising it lifts a blocker, so nobody does it alone: the score keeps its value until an architect or
    lead of the team other than the proposer confirms. The row is the chain the gate, the pages and the
    record show."""

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="score_raises")
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="+")
    from_score = models.PositiveSmallIntegerField()
    to_score = models.PositiveSmallIntegerField()
    reason = models.TextField()
    proposed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    proposed_at = models.DateTimeField(default=timezone.now)
    state = models.CharField(max_length=10, choices=LooseningState.choices, default=LooseningState.PROPOSED)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-proposed_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=LooseningState.values), name="score_raise_state_valid"
            ),
            models.CheckConstraint(condition=~Q(reason=""), name="score_raise_reason_required"),
            # Only a raise from below the minimum (2) to at least the minimum is a loosening.
            models.CheckConstraint(
                condition=Q(from_score__lt=2) & Q(to_score__gte=2) & Q(to_score__lte=3),
                name="score_raise_crosses_minimum",
            ),
            models.CheckConstraint(
                condition=Q(state=LooseningState.WITHDRAWN) | ~Q(decided_by=models.F("proposed_by")),
                name="score_raise_four_eyes",
            ),
            models.CheckConstraint(
                condition=Q(state=LooseningState.PROPOSED)
                | (Q(decided_by__isnull=False) & Q(decided_at__isnull=False)),
                name="score_raise_decided_has_decider",
            ),
            models.UniqueConstraint(
                fields=["review", "category"],
                condition=Q(state=LooseningState.PROPOSED),
                name="score_raise_one_open_per_category",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.summary} ({self.review})"

    @property
    def is_open(self) -> bool:
        return self.state == LooseningState.PROPOSED

    @property
    def summary(self) -> str:
        """In the words the pages use: "Raise Backup and restore from 1 to 3"."""
        return f"Raise {self.category.name} from {self.from_score} to {self.to_score}"


class ExceptionState(models.TextChoices):
    REQUESTED = "requested", "Awaiting signature"
    SIGNED = "signed", "Signed"
    REJECTED = "rejected", "Rejected"
    REVOKED = "revoked", "Revoked"
    EXPIRED = "expired", "Expired"


class RiskException(models.Model):
    """An exception that lets a P1 finding ship (seed §3–§4). Called "exception" everywhere users look."""

    finding = models.ForeignKey(Finding, on_delete=models.CASCADE, related_name="exceptions")
    justification = models.TextField()
    compensating_control = models.TextField()
    expires_at = models.DateTimeField()
    state = models.CharField(max_length=10, choices=ExceptionState.choices, default=ExceptionState.REQUESTED)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    signer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    signed_at = models.DateTimeField(null=True, blank=True)
    signed_digest = models.CharField(max_length=64, blank=True)
    # Who last changed the terms after the request. They wrote what would be signed, so four eyes
    # keeps them from signing it, as it keeps the requester.
    edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    edited_at = models.DateTimeField(null=True, blank=True)
    # The signed exception of the decided review this one is carried from, with its terms, signer and
    # expiry unchanged: the signature is the origin's (services.exception_digest names its finding).
    carried_from = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="carried_to"
    )
    version = models.PositiveIntegerField(default=1)

    class Meta:
        db_table = "reviews_exception"
        verbose_name = "exception"
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=ExceptionState.values), name="exception_state_valid"
            ),
            models.CheckConstraint(condition=~Q(signer=models.F("requested_by")), name="exception_four_eyes"),
            models.CheckConstraint(
                condition=~Q(signer=models.F("edited_by")), name="exception_four_eyes_editor"
            ),
            models.CheckConstraint(
                condition=~Q(state=ExceptionState.SIGNED)
                | (Q(signer__isnull=False) & Q(signed_at__isnull=False)),
                name="exception_signed_has_signer",
            ),
            models.CheckConstraint(condition=~Q(justification=""), name="exception_justification_required"),
            models.CheckConstraint(
                condition=~Q(compensating_control=""), name="exception_compensating_control_required"
            ),
        ]

    def __str__(self) -> str:
        return f"Exception for {self.finding}"

    def get_absolute_url(self) -> str:
        return reverse("exception_detail", args=[self.pk])

    def is_active(self, now=None) -> bool:
        now = now or timezone.now()
        return self.state == ExceptionState.SIGNED and self.expires_at > now


class Claim(models.Model):
    """A readiness claim with its risk, control and evidence (seed §1)."""

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="claims")
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    claim = models.CharField(max_length=200)
    risk = models.CharField(max_length=200)
    control = models.CharField(max_length=200)
    evidence = models.ForeignKey(
        "evidence.Evidence", on_delete=models.SET_NULL, null=True, blank=True, related_name="claims"
    )
    evidence_note = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.CheckConstraint(condition=~Q(claim=""), name="claim_text_required")]

    def __str__(self) -> str:
        return self.claim


# --- Append-only records: refused in the model layer here, and by triggers on PostgreSQL.


class AppendOnlyError(Exception):
    pass


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError(f"{self.model.__name__} rows cannot be changed")

    def delete(self):
        raise AppendOnlyError(f"{self.model.__name__} rows cannot be deleted")


class AppendOnlyModel(models.Model):
    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError(f"{type(self).__name__} rows cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError(f"{type(self).__name__} rows cannot be deleted")


class Outcome(models.TextChoices):
    APPROVED = "APPROVED", "Approved"
    APPROVED_WITH_EXCEPTIONS = "APPROVED_WITH_EXCEPTIONS", "Approved with exceptions"
    BLOCKED = "BLOCKED", "Blocked"


class Decision(AppendOnlyModel):
    """The frozen decision record of a review (seed §21). A later decision supersedes, never edits, it."""

    review = models.ForeignKey(Review, on_delete=models.PROTECT, related_name="decisions")
    system = models.ForeignKey(System, on_delete=models.PROTECT, related_name="decisions")
    outcome = models.CharField(max_length=32, choices=Outcome.choices)
    blockers = models.JSONField(default=list)
    exceptions = models.JSONField(default=list)
    follow_up = models.JSONField(default=list)
    next_review = models.DateField()
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)
    record = models.JSONField(help_text="The canonical decision record that the digest covers.")
    digest = models.CharField(max_length=64, unique=True)
    previous_digest = models.CharField(max_length=64, blank=True)

    # The record and the columns that repeat it: large (every finding and evidence item), and needed only
    # where the record itself is shown. Lists and timelines defer them.
    RECORD_FIELDS = ("record", "blockers", "exceptions", "follow_up")

    class Meta:
        ordering = ["-recorded_at", "-id"]
        get_latest_by = "recorded_at"
        constraints = [
            models.CheckConstraint(condition=Q(outcome__in=Outcome.values), name="decision_outcome_valid"),
            models.UniqueConstraint(fields=["review"], name="decision_one_per_review"),
            # A chain, not a tree: each decision follows exactly one predecessor of its system.
            models.UniqueConstraint(fields=["system", "previous_digest"], name="decision_chain_unforked"),
        ]

    def __str__(self) -> str:
        return f"{self.get_outcome_display()} — {self.system} ({self.recorded_at:%Y-%m-%d})"


class DecisionDocument(AppendOnlyModel):
    """The PDF of a decision record, rendered once by a worker and served as stored ever after."""

    decision = models.OneToOneField(Decision, on_delete=models.PROTECT, related_name="document")
    pdf = models.BinaryField()
    sha256 = models.CharField(max_length=64, help_text="SHA-256 of the PDF bytes.")
    size = models.PositiveIntegerField()
    pages = models.PositiveIntegerField()
    renderer = models.CharField(max_length=60)
    render_ms = models.PositiveIntegerField()
    rendered_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-rendered_at", "-id"]
        constraints = [models.CheckConstraint(condition=Q(size__gt=0), name="decision_document_not_empty")]

    def __str__(self) -> str:
        return f"PDF of decision {self.decision_id}"


class AuditEvent(AppendOnlyModel):
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    action = models.CharField(max_length=60)
    object_type = models.CharField(max_length=60)
    object_id = models.CharField(max_length=60)
    object_repr = models.CharField(max_length=200)
    review = models.ForeignKey(
        Review, on_delete=models.PROTECT, null=True, blank=True, related_name="audit_events"
    )
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor} {self.action} {self.object_repr}"
