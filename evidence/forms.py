"""Forms for each kind of evidence a person attaches."""

from django import forms

from reviews.forms import IsoDateField, IsoDateTimeField
from reviews.models import Category, Review

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


FORMS = {"link": LinkEvidenceForm, "file": FileEvidenceForm}


# --- Typed records (evidence.kinds): one form built from each kind's description. The service checks the
# values again (evidence.typed), so the API and imports are held to the same rules.


def _declared_field(f) -> forms.Field:
    from .kinds import spec as s

    common = {"label": f.label, "help_text": f.help, "required": f.required and not f.wanted}
    if f.type == s.TEXT:
        rows = 4 if f.limit > 5000 else 2  # queries and plans want room
        return forms.CharField(widget=forms.Textarea(attrs={"rows": rows}), max_length=f.limit, **common)
    if f.type in (s.CHOICE, s.YESNO):
        empty = f.empty or ("Not known yet" if f.wanted or not f.required else "Choose…")
        return forms.ChoiceField(choices=[("", empty), *f.all_choices], **common)
    if f.type == s.MULTI:
        return forms.MultipleChoiceField(choices=f.choices, widget=forms.CheckboxSelectMultiple, **common)
    if f.type == s.INT:
        return forms.IntegerField(min_value=f.min_value, max_value=f.max_value, **common)
    if f.type == s.FLOAT:
        return forms.FloatField(min_value=f.min_value, max_value=f.max_value, **common)
    if f.type == s.DATE:
        return IsoDateField(**common)
    if f.type == s.DATETIME:
        return IsoDateTimeField(**common)
    if f.type == s.BOOL:  # a box: unticked is an answer (no), never a missing one
        return forms.BooleanField(**{**common, "required": False})
    if f.type == s.URL:
        return forms.URLField(max_length=f.limit, assume_scheme="https", **common)
    return forms.CharField(max_length=f.limit, **common)


def declared_form(spec) -> type[forms.Form]:
    """The form of a typed record's kind: its title when one may be given, its fields in order, then a
    link to where it lives."""
    fields = {}
    if spec.titled:
        fields["title"] = forms.CharField(
            max_length=200, required=False, help_text="Left empty, a title is made from what it records."
        )
    fields.update({f.name: _declared_field(f) for f in spec.fields})
    fields["url"] = forms.URLField(
        max_length=500, required=spec.url_required, assume_scheme="https", label=spec.url_label
    )
    return type(f"{spec.kind.title().replace('_', '')}Form", (forms.Form,), fields)


def _declared_forms() -> dict[str, type[forms.Form]]:
    from . import kinds

    return {kind: declared_form(spec) for kind, spec in kinds.ALL.items()}


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
