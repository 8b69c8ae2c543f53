from django import forms


class PreferenceForm(forms.Form):
    others = forms.BooleanField(
        required=False,
        label="Also email me reminders that are not about my own signature",
        help_text="Expiry of exceptions I requested, overdue reviews and P2 findings of my teams. "
        "Reminders about exceptions awaiting or carrying my signature are always sent.",
    )
