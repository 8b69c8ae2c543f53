"""The form that creates an API token. It parses input; `services.create_token` validates and decides."""

from django import forms

from reviews.models import System, Team

from .models import Scope


class TokenForm(forms.Form):
    team = forms.ModelChoiceField(queryset=Team.objects.none(), empty_label=None)
    system = forms.ModelChoiceField(
        queryset=System.objects.none(),
        required=False,
        empty_label="Every system of the team",
        help_text="Limit the token to one system; a pipeline that deploys one system needs no more.",
    )
    name = forms.CharField(max_length=80, help_text="What uses it, e.g. “deploy pipeline of ledger”.")
    scopes = forms.MultipleChoiceField(
        choices=[(value, f"{value}: {label}") for value, label in Scope.choices],
        widget=forms.CheckboxSelectMultiple,
        initial=[Scope.READ],
        help_text="Grant only what the pipeline needs.",
    )
    expires_in_days = forms.IntegerField(
        min_value=1, max_value=3650, required=False, label="Expires after (days)", help_text="Empty: never."
    )

    def __init__(self, *args, teams, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams
        self.fields["system"].queryset = System.objects.filter(team__in=teams).select_related("team")
        self.fields["system"].label_from_instance = lambda s: f"{s.name} ({s.team.name})"
