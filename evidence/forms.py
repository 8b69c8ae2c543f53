"""Forms for each kind of evidence a person attaches."""

from django import forms

from reviews.forms import DateInput, DateTimeInput
from reviews.models import Category, Review


class _CategoryForm(forms.Form):
    category = forms.ModelChoiceField(queryset=Category.objects.none())

    def __init__(self, *args, review: Review, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["category"].queryset = Category.objects.filter(version_id=review.catalogue_id)


class LinkEvidenceForm(_CategoryForm):
    title = forms.CharField(max_length=200)
    url = forms.URLField(max_length=500, assume_scheme="https")
    observed_at = forms.DateTimeField(
        widget=DateTimeInput,
        required=False,
        label="Produced at",
        help_text="When the test, drill or report behind the link happened.",
    )
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=5000)


class FileEvidenceForm(_CategoryForm):
    title = forms.CharField(max_length=200)
    file = forms.FileField()
    observed_at = forms.DateTimeField(widget=DateTimeInput, required=False, label="Produced at")
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=5000)


class RestoreDrillForm(forms.Form):
    """Seed §11.3, the restore drill template."""

    title = forms.CharField(max_length=200, initial="Restore drill")
    database = forms.CharField(max_length=200)
    backup_source = forms.CharField(max_length=200)
    target_environment = forms.CharField(max_length=200)
    requested_recovery_point = forms.DateTimeField(widget=DateTimeInput)
    actual_recovery_point = forms.DateTimeField(widget=DateTimeInput)
    started_at = forms.DateTimeField(widget=DateTimeInput, label="Start time")
    ended_at = forms.DateTimeField(widget=DateTimeInput, label="End time")
    rpo_target_minutes = forms.IntegerField(min_value=0, max_value=10_000_000, label="RPO target (minutes)")
    rto_target_minutes = forms.IntegerField(min_value=0, max_value=10_000_000, label="RTO target (minutes)")
    validation_queries = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), max_length=20000)
    validation_passed = forms.BooleanField(required=False, label="Validation passed")
    validation_result = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=10000
    )
    issues_found = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=10000)
    follow_up_owner = forms.CharField(max_length=120, required=False)
    next_drill_date = forms.DateField(widget=DateInput, required=False)


class RunbookForm(forms.Form):
    """Seed §18.2, the runbook template."""

    name = forms.CharField(max_length=200)
    url = forms.URLField(max_length=500, required=False, assume_scheme="https", label="Link to the runbook")
    severity = forms.CharField(max_length=40, required=False)
    symptoms = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=5000)
    immediate_safe_actions = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=5000
    )
    actions_forbidden = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=5000
    )
    owner = forms.CharField(max_length=120)
    last_tested = forms.DateField(widget=DateInput, required=False)


FORMS = {
    "link": LinkEvidenceForm,
    "file": FileEvidenceForm,
    "restore_drill": RestoreDrillForm,
    "runbook": RunbookForm,
}
