"""Forms for each kind of evidence a person attaches."""

from django import forms

from reviews.forms import IsoDateField, IsoDateTimeField
from reviews.models import Category, Review

from .kinds.runbooks import REQUIRED_RUNBOOKS
from .models import MigrationPhase, Pagination
from .verdict import SHOWS_CHOICES


def _shows_field():
    return forms.ChoiceField(
        choices=[("", "A control (default)"), *SHOWS_CHOICES[1:]],
        required=False,
        label="What it shows",
        help_text="A score of 3 needs a control, an automated test or monitoring, and a runbook.",
    )


class _CategoryForm(forms.Form):
    category = forms.ModelChoiceField(queryset=Category.objects.none(), empty_label="Choose a category")

    def __init__(self, *args, review: Review, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["category"].queryset = Category.objects.filter(version_id=review.catalogue_id)


class LinkEvidenceForm(_CategoryForm):
    title = forms.CharField(max_length=200)
    url = forms.URLField(max_length=500, assume_scheme="https")
    observed_at = IsoDateTimeField(
        required=False,
        label="Produced at",
        help_text="When the test, drill or report behind the link happened.",
    )
    shows = _shows_field()
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=5000)


class FileEvidenceForm(_CategoryForm):
    title = forms.CharField(max_length=200)
    file = forms.FileField()
    observed_at = IsoDateTimeField(required=False, label="Produced at")
    shows = _shows_field()
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=5000)


def _text(*, rows: int = 2, max_length: int = 5000, label: str | None = None) -> forms.CharField:
    return forms.CharField(
        widget=forms.Textarea(attrs={"rows": rows}), required=False, max_length=max_length, label=label
    )


class RestoreDrillForm(forms.Form):
    """Seed §11.3, the restore drill template."""

    title = forms.CharField(max_length=200, initial="Restore drill")
    database = forms.CharField(max_length=200)
    backup_source = forms.CharField(max_length=200)
    target_environment = forms.CharField(max_length=200)
    requested_recovery_point = IsoDateTimeField()
    actual_recovery_point = IsoDateTimeField()
    started_at = IsoDateTimeField(label="Start time")
    ended_at = IsoDateTimeField(label="End time")
    rpo_target_minutes = forms.IntegerField(min_value=0, max_value=10_000_000, label="RPO target (minutes)")
    rto_target_minutes = forms.IntegerField(min_value=0, max_value=10_000_000, label="RTO target (minutes)")
    validation_queries = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), max_length=20000)
    validation_passed = forms.BooleanField(required=False, label="Validation passed")
    validation_result = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=10000
    )
    issues_found = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=10000)
    follow_up_owner = forms.CharField(max_length=120, required=False, label="Follow-up owner")
    next_drill_date = IsoDateField(required=False)


class RunbookForm(forms.Form):
    """Seed §18.2, the runbook template."""

    name = forms.CharField(max_length=200)
    covers = forms.ChoiceField(
        choices=[("", "Another runbook")] + list(REQUIRED_RUNBOOKS),
        required=False,
        label="Required runbook it covers",
    )
    url = forms.URLField(max_length=500, required=False, assume_scheme="https", label="Link to the runbook")
    severity = forms.CharField(max_length=40, required=False)
    symptoms = _text()
    dashboards = _text()
    diagnostic_queries = _text(rows=3, max_length=20000)
    immediate_safe_actions = _text()
    actions_requiring_approval = _text()
    actions_forbidden = _text()
    rollback_recovery = _text(label="Rollback or recovery")
    communication = _text(label="Customer and stakeholder communication")
    evidence_to_capture = _text()
    postmortem_questions = _text()
    owner = forms.CharField(max_length=120)
    last_tested = IsoDateField(required=False)


class _SpanForm(forms.Form):
    def clean(self):
        data = super().clean()
        started, ended = data.get("started_at"), data.get("ended_at")
        if started and ended and ended < started:
            self.add_error("ended_at", "It cannot end before it started.")
        return data


class RunbookTestForm(_SpanForm):
    """Seed §18.2 "Last Tested": a runbook exercised in a drill or game day."""

    runbook_name = forms.CharField(max_length=200, label="Runbook")
    scenario = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=5000)
    environment = forms.CharField(max_length=200)
    started_at = IsoDateTimeField(label="Start time")
    ended_at = IsoDateTimeField(label="End time")
    passed = forms.BooleanField(required=False, label="The runbook worked as written")
    issues_found = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=10000)
    follow_up_owner = forms.CharField(max_length=120, required=False, label="Follow-up owner")
    url = forms.URLField(max_length=500, required=False, assume_scheme="https", label="Link to the report")


class MigrationRehearsalForm(_SpanForm):
    """Seed §10: a migration rehearsed on production-like data."""

    migration = forms.CharField(max_length=200)
    phase = forms.ChoiceField(choices=MigrationPhase.choices)
    environment = forms.CharField(max_length=200)
    dataset = forms.CharField(
        max_length=300, label="Production-like data", help_text="e.g. snapshot of 1 Nov, 1.2 TB"
    )
    started_at = IsoDateTimeField(label="Start time")
    ended_at = IsoDateTimeField(label="End time")
    lock_behaviour = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), max_length=5000, help_text="Which locks, on what, how long."
    )
    longest_lock_ms = forms.IntegerField(
        min_value=0, max_value=2_147_483_647, required=False, label="Longest write-blocking lock (ms)"
    )
    validation_query = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=20000)
    validation_passed = forms.BooleanField(required=False, label="Validation passed")
    validation_result = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=10000
    )
    rollback_rehearsed = forms.BooleanField(required=False, label="Rollback or roll-forward rehearsed too")
    issues_found = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=10000)
    url = forms.URLField(max_length=500, required=False, assume_scheme="https", label="Link to the report")


class LoadTestForm(_SpanForm):
    """Seed §17.2: a production-like load test, its percentiles and its saturation point."""

    scenario = forms.CharField(max_length=200)
    environment = forms.CharField(max_length=200)
    tool = forms.CharField(max_length=80, required=False)
    data_shape = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        max_length=5000,
        help_text="Size, skew, large tenants.",
    )
    started_at = IsoDateTimeField(label="Start time")
    ended_at = IsoDateTimeField(label="End time")
    peak_concurrency = forms.IntegerField(min_value=0, max_value=2_147_483_647, required=False)
    throughput_per_s = forms.FloatField(min_value=0, max_value=1e12, label="Throughput (per second)")
    p50_ms = forms.FloatField(min_value=0, max_value=1e12, label="p50 (ms)")
    p95_ms = forms.FloatField(min_value=0, max_value=1e12, label="p95 (ms)")
    p99_ms = forms.FloatField(min_value=0, max_value=1e12, label="p99 (ms)")
    target_p95_ms = forms.FloatField(min_value=0, max_value=1e12, required=False, label="Target p95 (ms)")
    error_rate_percent = forms.FloatField(min_value=0, max_value=100, required=False, label="Error rate (%)")
    saturation_point = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), max_length=5000, help_text="Measured or estimated."
    )
    saturation_throughput_per_s = forms.FloatField(
        min_value=0, max_value=1e12, required=False, label="Throughput at saturation (per second)"
    )
    bottleneck = forms.CharField(max_length=200, required=False)
    url = forms.URLField(max_length=500, required=False, assume_scheme="https", label="Link to the report")


class AccessPatternForm(forms.Form):
    """Seed §8.1, one entry of the access pattern inventory."""

    query_name = forms.CharField(max_length=200, help_text="e.g. Case inbox.")
    actor_name = forms.CharField(max_length=120, label="Actor", help_text="Who runs it, e.g. investigator.")
    frequency = forms.CharField(max_length=120, help_text="e.g. 500/min peak.")
    freshness = forms.CharField(
        max_length=200, required=False, help_text="e.g. must read the primary after an update."
    )
    predicate = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), max_length=5000, help_text="e.g. tenant_id, status in (…)."
    )
    sort = forms.CharField(max_length=200, required=False, help_text="e.g. due_at asc, priority desc.")
    pagination = forms.ChoiceField(choices=Pagination.choices)
    expected_p95_ms = forms.FloatField(min_value=0, max_value=1e12, label="Expected p95 (ms)")
    index = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), max_length=5000, help_text="The index that serves it."
    )
    plan_evidence = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        max_length=50000,
        help_text="EXPLAIN ANALYZE on production-like data.",
    )
    url = forms.URLField(max_length=500, required=False, assume_scheme="https", label="Link to the plan")


class DerivedStoreForm(forms.Form):
    """Seed §16.1, one row of the derived store inventory."""

    store = forms.CharField(max_length=200, help_text="e.g. Search index.")
    source = forms.CharField(max_length=200, help_text="e.g. CDC/outbox.")
    freshness = forms.CharField(max_length=200, help_text="The freshness contract, e.g. < 30 s.")
    rebuild = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=5000)
    owner = forms.CharField(max_length=120)
    failure_action = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), max_length=5000, help_text="e.g. disable search, fall back."
    )
    url = forms.URLField(max_length=500, required=False, assume_scheme="https", label="Link")


class CapacityEnvelopeForm(forms.Form):
    """Seed §17.3, the capacity envelope template."""

    current_data_size = forms.CharField(max_length=80, help_text="e.g. 420 GB.")
    projected_data_size = forms.CharField(max_length=80, label="Projected data size in 12 months")
    current_peak_tps = forms.FloatField(min_value=0, max_value=1e12, label="Current peak TPS")
    projected_peak_tps = forms.FloatField(min_value=0, max_value=1e12, label="Projected peak TPS")
    current_p95_ms = forms.FloatField(min_value=0, max_value=1e12, label="Current p95 (ms)")
    target_p95_ms = forms.FloatField(min_value=0, max_value=1e12, label="Target p95 (ms)")
    known_bottleneck = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=5000
    )
    saturation_trigger = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=5000)
    planned_mitigation = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=5000)
    owner = forms.CharField(max_length=120)
    review_date = IsoDateField()
    url = forms.URLField(max_length=500, required=False, assume_scheme="https", label="Link")


FORMS = {
    "link": LinkEvidenceForm,
    "file": FileEvidenceForm,
    "restore_drill": RestoreDrillForm,
    "runbook": RunbookForm,
    "runbook_test": RunbookTestForm,
    "migration_rehearsal": MigrationRehearsalForm,
    "load_test": LoadTestForm,
    "access_pattern": AccessPatternForm,
    "derived_store": DerivedStoreForm,
    "capacity_envelope": CapacityEnvelopeForm,
}


# --- Kinds declared in evidence.kinds: one form built from each description. The service checks the
# values again (evidence.typed), so the API and imports are held to the same rules.


def _declared_field(f) -> forms.Field:
    from .kinds import spec as s

    common = {"label": f.label, "help_text": f.help, "required": f.required and not f.wanted}
    if f.type == s.TEXT:
        return forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=f.limit, **common)
    if f.type in (s.CHOICE, s.YESNO):
        empty = [("", "Not known yet" if f.wanted or not f.required else "Choose…")]
        return forms.ChoiceField(choices=empty + list(f.all_choices), **common)
    if f.type == s.MULTI:
        return forms.MultipleChoiceField(choices=f.choices, widget=forms.CheckboxSelectMultiple, **common)
    if f.type == s.INT:
        return forms.IntegerField(min_value=f.min_value, max_value=f.max_value, **common)
    if f.type == s.DATE:
        return IsoDateField(**common)
    if f.type == s.URL:
        return forms.URLField(max_length=f.limit, assume_scheme="https", **common)
    return forms.CharField(max_length=f.limit, **common)


def declared_form(spec) -> type[forms.Form]:
    """The form of a declared kind: its fields in order, then an optional link to where it lives."""
    fields = {f.name: _declared_field(f) for f in spec.fields}
    fields["url"] = forms.URLField(
        max_length=500, required=spec.url_required, assume_scheme="https", label="Link"
    )
    return type(f"{spec.kind.title().replace('_', '')}Form", (forms.Form,), fields)


def _declared_forms() -> dict[str, type[forms.Form]]:
    from . import kinds

    return {kind: declared_form(spec) for kind, spec in kinds.KINDS.items()}


FORMS.update(_declared_forms())


class ImportForm(forms.Form):
    """A spreadsheet of one kind of record (evidence.imports)."""

    kind = forms.ChoiceField(label="The file holds", choices=())
    file = forms.FileField(
        label="File",
        help_text="CSV with a header row, or YAML: a list of rows. At most 1 MB and 2,000 rows.",
    )

    def __init__(self, *args, **kwargs):
        from . import imports

        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [("", "Choose…"), *imports.importable()]
        self.fields["file"].widget.attrs["accept"] = ".csv,.yaml,.yml,text/csv"
