"""Forms parse and shape input; the services decide whether a change is allowed."""

from datetime import timedelta

from django import forms
from django.utils import timezone

from guide.links import help_text as guide_help

from . import audit_text, judgement, labels
from .loosening import STATUS_CHOICES, owner_candidates
from .models import Answer, Category, Level, Outcome, Review, System, Team

NOTE_HELP = (
    "Lowering a P0/P1, or closing one as accepted or not an issue, needs a reason here and an architect "
    "or lead other than you to confirm it. Resolving a P0/P1 as fixed needs a note here and evidence of "
    "the fix."
)


# Dates are typed and shown as yyyy-mm-dd, as every page and record writes them. Not <input type=date>:
# Chromium shows that in the browser's locale (mm/dd/yyyy in en-US), whatever the page's lang says.
DATE_FORMAT = "%Y-%m-%d"
DATE_PATTERN = r"\d{4}-\d{2}-\d{2}"
DATETIME_FORMAT = "%Y-%m-%d %H:%M"
DATETIME_PATTERN = r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?"
DATE_ATTRS = {
    "placeholder": "yyyy-mm-dd",
    "pattern": DATE_PATTERN,
    "title": "A date as yyyy-mm-dd, for example 2027-03-31",
    "maxlength": "10",
    "size": "12",
    "autocomplete": "off",
    "class": "date-input",
}
DATETIME_ATTRS = {
    "placeholder": "yyyy-mm-dd hh:mm",
    "pattern": DATETIME_PATTERN,
    "title": "A date and time as yyyy-mm-dd hh:mm (24-hour), for example 2027-03-31 14:30",
    "maxlength": "19",
    "size": "18",
    "autocomplete": "off",
    "class": "date-input",
}


class DateInput(forms.DateInput):
    input_type = "text"

    def __init__(self, attrs=None, format=None):
        super().__init__(attrs={**DATE_ATTRS, **(attrs or {})}, format=format or DATE_FORMAT)


class DateTimeInput(forms.DateTimeInput):
    input_type = "text"

    def __init__(self, attrs=None, format=None):
        super().__init__(attrs={**DATETIME_ATTRS, **(attrs or {})}, format=format or DATETIME_FORMAT)


class IsoDateField(forms.DateField):
    """A date as yyyy-mm-dd only: 03/04/2027 means different days to different readers."""

    widget = DateInput
    input_formats = [DATE_FORMAT]
    default_error_messages = {"invalid": "Enter a date as yyyy-mm-dd, for example 2027-03-31."}


class IsoDateTimeField(forms.DateTimeField):
    """A date and time as yyyy-mm-dd hh:mm (a T between them is accepted too), in the server's time zone."""

    widget = DateTimeInput
    input_formats = [DATETIME_FORMAT, "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"]
    default_error_messages = {
        "invalid": "Enter a date and time as yyyy-mm-dd hh:mm, for example 2027-03-31 14:30."
    }


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
        help_text=guide_help(
            "What this database is authoritative for; what is only a cache or projection.", "ownership"
        ),
    )

    def __init__(self, *args, teams=None, editing=False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            del self.fields["team"]
        else:
            self.fields["team"].queryset = teams


class ReviewForm(forms.Form):
    release_scope = forms.CharField(
        max_length=200, help_text=guide_help("What this release changes.", "step-1")
    )
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
    next_review_date = IsoDateField(required=False, label="Planned next review")
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def clean_next_review_date(self):
        value = self.cleaned_data["next_review_date"]
        if value and value <= timezone.localdate():
            raise forms.ValidationError("The next review date must be in the future.")
        return value


class ScoreForm(forms.Form):
    score = forms.TypedChoiceField(
        choices=[(i, str(i)) for i in range(4)],
        coerce=int,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose a score, 0 to 3: the owner and notes are saved with it."},
    )
    owner = UserChoiceField(queryset=None, required=False)
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=5000)
    reason = forms.CharField(
        required=False,
        max_length=2000,
        label="Reason for raising",
        help_text="Raising backup, security, migration safety or observability from below 2 lifts a "
        "minimum: say why; an architect or lead other than you confirms it.",
    )
    version = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=0)

    def __init__(self, *args, review: Review, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = team_members(review.system.team_id)


class ScoreUndoForm(ScoreForm):
    """A score as it was before a save, to put back: `score` empty when the category was unscored.
    `version` is the score's version after that save, so a change by anyone since is a conflict."""

    score = forms.TypedChoiceField(
        choices=[("", "Not scored"), *((i, str(i)) for i in range(4))],
        coerce=int,
        required=False,
        empty_value=None,
    )
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=0)


class AnswerForm(forms.Form):
    answer = forms.ChoiceField(choices=Answer.choices)
    note = forms.CharField(required=False, max_length=2000)
    version = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=0)


class AnswerUndoForm(AnswerForm):
    """A checklist answer as it was before a save, to put back: `answer` empty when it was unanswered."""

    answer = forms.ChoiceField(choices=[("", "Not answered"), *Answer.choices], required=False)
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=0)


class FindingForm(forms.Form):
    category = forms.ModelChoiceField(queryset=Category.objects.none(), empty_label="Choose a category")
    title = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False, max_length=10000)
    level = forms.ChoiceField(
        choices=Level.choices,
        help_text=guide_help(
            "P0 blocks release; P1 needs a signed exception; P2 needs a dated owner; P3 is an improvement.",
            "severity-levels",
        ),
    )
    owner = UserChoiceField(queryset=None, required=False)
    due_date = IsoDateField(required=False)

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
    expires_at = IsoDateTimeField(label="Expires at")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        in_30_days = timezone.localtime() + timedelta(days=30)
        self.fields["expires_at"].initial = in_30_days.replace(second=0, microsecond=0)


class DecisionForm(forms.Form):
    """The decision step: next review and notes, the chair's outcome (the gate's, or stricter with a
    reason) and an answer to each of the guide's final questions. The service judges the combination."""

    next_review = IsoDateField(label="Next review")
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

    confirm_unscored = forms.BooleanField(required=False)

    def __init__(self, *args, unscored: list[str] | tuple[str, ...] = (), **kwargs):
        """`unscored`: the names of the categories nobody scored; recording with any of them unscored
        needs the chair to tick confirm_unscored (the page shows how many and which)."""
        super().__init__(*args, **kwargs)
        self.unscored = list(unscored)
        self.fields["confirm_unscored"].label = (
            f"Record the decision with {self.unscored_count_text} unscored" if self.unscored else ""
        )
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

    @property
    def unscored_count_text(self) -> str:
        n = len(self.unscored)
        return f"{n} {'category' if n == 1 else 'categories'}"

    def clean(self):
        data = super().clean()
        if self.unscored and not data.get("confirm_unscored"):
            self.add_error(
                "confirm_unscored",
                f"{self.unscored_count_text.capitalize()} unscored: {', '.join(self.unscored)}. Score "
                "them first, or tick the box to record the decision with them unscored.",
            )
        return data

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

    def clean_release_scope(self):
        # The meeting's box wraps the title over lines; a title is one line.
        value = " ".join(self.cleaned_data["release_scope"].split())
        if not value:
            raise forms.ValidationError("This field is required.")
        return value


class NextReviewForm(forms.Form):
    next_review_date = IsoDateField(label="Next review")
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
    due_date = IsoDateField(required=False)

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
    due_date = IsoDateField(required=False)
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
    since = IsoDateField(required=False, label="From")
    until = IsoDateField(required=False, label="To")

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
