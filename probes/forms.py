"""Forms of the probe pages. They parse input; the services validate and decide."""

import json

from django import forms

from reviews.models import CatalogueVersion, Category, Level

from .models import Environment


class TargetForm(forms.Form):
    name = forms.CharField(max_length=120, help_text="E.g. “production primary” or “staging”.")
    environment = forms.ChoiceField(choices=Environment.choices, initial=Environment.PRODUCTION)
    # Never rendered back: a saved connection is shown as user@host:port/dbname, a new one typed in whole.
    dsn = forms.CharField(
        label="Connection string",
        max_length=2000,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text="postgresql://readiness_probe:password@host:5432/dbname, or host=… port=… dbname=… "
        "user=… password=… (also sslmode, and certificate files in the administrator's directory). Use a "
        "login role that can only read (pg_monitor, pg_read_all_data); a superuser or a role that may "
        "write is refused. The password is encrypted at rest and never shown again.",
    )
    params = forms.CharField(
        label="Probe settings (JSON)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false", "class": "code"}),
        help_text='Thresholds over the probes\' defaults: {"probe id": {"setting": value}}. '
        "The probes and their settings are listed below.",
    )

    schedule_hours = forms.IntegerField(
        label="Run the probes every (hours)",
        required=False,
        min_value=1,
        max_value=8760,
        help_text="Empty: only when someone starts a run. Probe results go stale after "
        "EVIDENCE_MAX_AGE_PROBE_RESULT_DAYS (7 days by default); a schedule keeps them fresh.",
    )

    def __init__(self, *args, editing: bool = False, saved_connection: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            self.fields["dsn"].required = False
            self.fields["dsn"].label = "New connection string"
            self.fields["dsn"].help_text = (
                f"Saved: {saved_connection}. Leave empty to keep it; to change it, enter the whole "
                "connection string again, password included (the saved password is never shown)."
            )

    def clean_params(self):
        raw = self.cleaned_data["params"].strip()
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).")
        if not isinstance(value, dict):
            raise forms.ValidationError('Give an object: {"probe.id": {"setting": value}}.')
        return value


def _category_choices():
    version = CatalogueVersion.objects.filter(published=True).order_by("-number").first()
    return [
        (c.code, f"{c.number}. {c.name}") for c in Category.objects.filter(version=version).order_by("number")
    ]


class InvariantCheckForm(forms.Form):
    name = forms.CharField(max_length=120, help_text="The invariant, e.g. “every journal entry balances”.")
    sql = forms.CharField(
        label="SQL",
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false", "class": "code"}),
        help_text="One SELECT (or WITH … SELECT) that returns the rows breaking the invariant: zero rows "
        "passes. It runs in a read-only transaction with the probes' timeouts and may call built-in "
        "functions without side effects only; name tables outside schema public with their schema.",
    )
    category = forms.ChoiceField(choices=(), initial="data-model")
    severity = forms.ChoiceField(label="Level when broken", choices=Level.choices, initial=Level.P1)
    row_cap = forms.IntegerField(label="Rows kept as evidence", min_value=1, max_value=1000, initial=100)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = _category_choices()


class StartRunForm(forms.Form):
    review = forms.IntegerField(required=False, widget=forms.HiddenInput)
