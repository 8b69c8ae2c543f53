"""Forms parse and shape input; the services decide whether a change is allowed."""

from datetime import timedelta

from django import forms
from django.utils import timezone

from . import audit_text, judgement, labels
from .loosening import STATUS_CHOICES, owner_candidates
from .models import Answer, Category, Level, Outcome, Review, System, Team

NOTE_HELP = (
    "Lowering a P0/P1, or closing one as accepted or not an issue, needs a reason here and an architect "
    "or lead other than you to confirm it. Resolving a P0/P1 as fixed needs a note here and evidence of "
    "the fix."
)


class DateInput(forms.DateInput):
    input_type = "date"


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


def team_members(team_id: int):
    """Who an owner picker offers: people of the team who may act (never its auditors)."""
    return owner_candidates(team_id)


class UserChoiceField(forms.ModelChoiceField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("empty_label", "No owner")
        super().__init__(*args, **kwargs)

    def label_from_instance(self, obj) -> str:
        return labels.person_name(obj)


class ReleaseFlagField(forms.Field):
    """A release flag answered Yes or No, with nothing preselected: left empty it stays unanswered (None)
    and the gate cannot decide until the chair answers it. "on" (an old checkbox) reads as Yes."""

    widget = forms.RadioSelect(choices=[("yes", "Yes"), ("no", "No")])
    YES, NO = {"yes", "on", "true", "1"}, {"no", "off", "false", "0"}

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def prepare_value(self, value):
        return {True: "yes", False: "no"}.get(value, value or "")

    def to_python(self, value):
        if value in (None, ""):
            return None
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in self.YES:
            return True
        if text in self.NO:
            return False
        raise forms.ValidationError("Answer Yes or No.")


class SystemForm(forms.Form):
    team = forms.ModelChoiceField(queryset=Team.objects.none(), empty_label="Choose a team")
    name = forms.CharField(max_length=120)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=5000)
    source_of_truth = forms.CharField(
        label="Source-of-truth declaration",
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        max_length=5000,
        help_text="What this database is authoritative for; what is only a cache or projection (seed §5).",
    )

    def __init__(self, *args, teams=None, editing=False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            del self.fields["team"]
        else:
            self.fields["team"].queryset = teams


class ReviewForm(forms.Form):
    release_scope = forms.CharField(max_length=200, help_text="What this release changes (seed §21, step 1).")
    scope_notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=5000)
    schema_changing = ReleaseFlagField(
        label="Does this release change the schema?",
        help_text="If it does, migration safety must score at least 2. The gate cannot decide until "
        "this is answered.",
    )
    production_traffic = ReleaseFlagField(
        label="Does it serve production traffic?",
        help_text="If it does, observability must score at least 2. The gate cannot decide until "
        "this is answered.",
    )
    next_review_date = forms.DateField(required=False, widget=DateInput, label="Planned next review")
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def clean_next_review_date(self):
        value = self.cleaned_data["next_review_date"]
        if value and value <= timezone.localdate():
            raise forms.ValidationError("The next review date must be in the future.")
        return value


class ScoreForm(forms.Form):
    score = forms.TypedChoiceField(
        choices=[(i, str(i)) for i in range(4)], coerce=int, widget=forms.RadioSelect
    )
    owner = UserChoiceField(queryset=None, required=False)
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=5000)
    version = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=0)

    def __init__(self, *args, review: Review, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = team_members(review.system.team_id)


class AnswerForm(forms.Form):
    answer = forms.ChoiceField(choices=Answer.choices)
    note = forms.CharField(required=False, max_length=2000)
    version = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=0)


class FindingForm(forms.Form):
    category = forms.ModelChoiceField(queryset=Category.objects.none(), empty_label="Choose a category")
    title = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False, max_length=10000)
    level = forms.ChoiceField(
        choices=Level.choices,
        help_text="P0 blocks release; P1 needs a signed exception; "
        "P2 needs a dated owner; P3 is an improvement (seed §3).",
    )
    owner = UserChoiceField(queryset=None, required=False)
    due_date = forms.DateField(required=False, widget=DateInput)

    def __init__(self, *args, review: Review, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["category"].queryset = Category.objects.filter(version_id=review.catalogue_id)
        self.fields["owner"].queryset = team_members(review.system.team_id)


class FindingEditForm(FindingForm):
    status = forms.ChoiceField(choices=STATUS_CHOICES)
    note = forms.CharField(
        label="Reason or fix note",
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        max_length=5000,
        help_text=NOTE_HELP,
    )
    version = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=0)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        del self.fields["category"]


class ClaimForm(forms.Form):
    claim = forms.CharField(max_length=200, help_text="e.g. Tenant data is isolated")
    risk = forms.CharField(max_length=200, help_text="e.g. Cross-tenant leak")
    control = forms.CharField(max_length=200, help_text="e.g. Composite keys + RLS + test matrix")
    category = forms.ModelChoiceField(
        queryset=Category.objects.none(), required=False, empty_label="No category"
    )
    evidence = forms.ModelChoiceField(
        queryset=None, required=False, help_text="Evidence already attached", empty_label="None attached"
    )
    evidence_note = forms.CharField(max_length=200, required=False, label="Evidence (text)")

    def __init__(self, *args, review: Review, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["category"].queryset = Category.objects.filter(version_id=review.catalogue_id)
        self.fields["evidence"].queryset = review.evidence.all()


class ExceptionRequestForm(forms.Form):
    justification = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=5000)
    compensating_control = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=5000)
    expires_at = forms.DateTimeField(widget=DateTimeInput, label="Expires at")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        in_30_days = timezone.localtime() + timedelta(days=30)
        self.fields["expires_at"].initial = in_30_days.replace(second=0, microsecond=0)


class DecisionForm(forms.Form):
    """The decision step: next review and notes, the chair's outcome (the gate's, or stricter with a
    reason) and an answer to each of the guide's final questions. The service judges the combination."""

    next_review = forms.DateField(widget=DateInput, label="Next review")
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=5000)
    outcome = forms.ChoiceField(
        choices=[("", "The gate's outcome"), *Outcome.choices],
        required=False,
        label="Outcome to record",
        help_text="The gate's outcome, or Blocked if the chair judges the release not ready.",
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        max_length=judgement.REASON_MAX,
        label="Why stricter than the gate",
        help_text="Required when the outcome is stricter than the gate's; written into the record.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(a.value, a.label) for a in judgement.FINAL_ANSWERS]
        for q in judgement.FINAL_QUESTIONS:
            self.fields[f"fq_{q.code}"] = forms.ChoiceField(
                choices=choices,
                widget=forms.RadioSelect,
                label=q.text,
                error_messages={"required": "Answer yes, no or not applicable."},
            )
            self.fields[f"fq_{q.code}_note"] = forms.CharField(
                required=False, max_length=judgement.NOTE_MAX, label=f"Note on: {q.text}"
            )

    def final_question_rows(self) -> list[dict]:
        """The questions under their headings, each with its answer and note fields, for the templates."""
        sections: dict[str, list[dict]] = {}
        for q in judgement.FINAL_QUESTIONS:
            sections.setdefault(q.heading, []).append(
                {"question": q, "answer": self[f"fq_{q.code}"], "note": self[f"fq_{q.code}_note"]}
            )
        return [{"heading": heading, "rows": rows} for heading, rows in sections.items()]

    def decision_kwargs(self) -> dict:
        """The cleaned form as keyword arguments of services.record_decision."""
        data = self.cleaned_data
        return {
            "next_review": data["next_review"],
            "notes": data.get("notes", ""),
            "outcome": data.get("outcome") or None,
            "reason": data.get("reason", ""),
            "final_answers": {
                q.code: (data[f"fq_{q.code}"], data.get(f"fq_{q.code}_note", ""))
                for q in judgement.FINAL_QUESTIONS
            },
        }


# --- Inline forms of the meeting page


class ScopeForm(forms.Form):
    release_scope = forms.CharField(max_length=200)
    schema_changing = ReleaseFlagField(label="Schema-changing release")
    production_traffic = ReleaseFlagField(label="Serves production traffic")
    version = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=0)


class NextReviewForm(forms.Form):
    next_review_date = forms.DateField(widget=DateInput, label="Next review")
    version = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=0)

    def clean_next_review_date(self):
        value = self.cleaned_data["next_review_date"]
        if value <= timezone.localdate():
            raise forms.ValidationError("The next review date must be in the future.")
        return value


class QuickFindingForm(forms.Form):
    title = forms.CharField(max_length=200)
    level = forms.ChoiceField(choices=Level.choices)
    owner = UserChoiceField(queryset=None, required=False)
    due_date = forms.DateField(required=False, widget=DateInput)

    def __init__(self, *args, review: Review, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = team_members(review.system.team_id)


class QuickLinkForm(forms.Form):
    """A link attached as evidence from the meeting."""

    title = forms.CharField(max_length=200)
    url = forms.URLField(max_length=500, assume_scheme="https")


class FindingTriageForm(forms.Form):
    """Regrade, close, or give an owner and date, without touching the finding's text."""

    level = forms.ChoiceField(choices=Level.choices)
    status = forms.ChoiceField(choices=STATUS_CHOICES)
    owner = UserChoiceField(queryset=None, required=False)
    due_date = forms.DateField(required=False, widget=DateInput)
    note = forms.CharField(label="Reason or fix note", required=False, max_length=5000, help_text=NOTE_HELP)
    version = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=0)

    def __init__(self, *args, review: Review, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = team_members(review.system.team_id)


class ExceptionDecisionForm(forms.Form):
    """The terms a lead saw when signing or rejecting: the exception's version and exception_digest."""

    version = forms.IntegerField(min_value=1)
    digest = forms.RegexField(regex=r"^[0-9a-f]{64}$", max_length=64)


class LooseningDecisionForm(forms.Form):
    note = forms.CharField(required=False, max_length=2000, label="Note")


class ExceptionEditForm(ExceptionRequestForm):
    """Change the terms of a requested or signed exception (a signed one then awaits a signature again)."""

    version = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=0)


# --- Auditor pages: filters and verification


class DateRangeForm(forms.Form):
    since = forms.DateField(required=False, widget=DateInput, label="From")
    until = forms.DateField(required=False, widget=DateInput, label="To")

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            self.add_error("until", "The end of the range is before its start.")
        return data


class DecisionFilterForm(DateRangeForm):
    system = forms.ModelChoiceField(
        queryset=System.objects.none(), required=False, to_field_name="slug", empty_label="Any system"
    )
    team = forms.ModelChoiceField(
        queryset=Team.objects.none(), required=False, to_field_name="slug", empty_label="Any team"
    )
    outcome = forms.ChoiceField(choices=[("", "Any outcome"), *Outcome.choices], required=False)
    field_order = ["system", "team", "outcome", "since", "until"]

    def __init__(self, *args, systems, teams, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["system"].queryset = systems
        self.fields["team"].queryset = teams


class AuditFilterForm(DateRangeForm):
    actor = forms.CharField(
        label="Who",
        required=False,
        max_length=150,
        help_text='A username, or "system" for what nobody did by hand.',
        widget=forms.TextInput(attrs={"placeholder": "username, or system"}),
    )
    # A menu of what the trail records, in words; the value is the action ("exception.sign") or a prefix
    # ending in a dot ("exception.": every exception event), which a link may also give by hand.
    action = forms.CharField(
        label="What happened",
        required=False,
        max_length=60,
        widget=forms.Select(choices=[("", "Anything"), *audit_text.action_choices()]),
    )
    system = forms.ModelChoiceField(
        queryset=System.objects.none(), required=False, to_field_name="slug", empty_label="Any system"
    )
    field_order = ["actor", "action", "system", "since", "until"]

    def __init__(self, *args, systems=None, **kwargs):
        super().__init__(*args, **kwargs)
        if systems is None:
            del self.fields["system"]
        else:
            self.fields["system"].queryset = systems


RECORD_MAX_BYTES = 20 * 1024 * 1024


class VerifyForm(forms.Form):
    decision = forms.IntegerField(
        required=False, min_value=1, label="A stored decision (its number)", widget=forms.NumberInput
    )
    file = forms.FileField(
        required=False,
        label="Or a record file (JSON)",
        help_text="The JSON downloaded from a decision, or the bare record.",
    )

    def clean_file(self):
        upload = self.cleaned_data.get("file")
        if upload and upload.size > RECORD_MAX_BYTES:
            raise forms.ValidationError("That file is larger than any decision record (20 MB).")
        return upload

    def clean(self):
        data = super().clean()
        if not data.get("decision") and not data.get("file") and not self.errors:
            raise forms.ValidationError("Pick a stored decision, upload a record file, or both.")
        return data
