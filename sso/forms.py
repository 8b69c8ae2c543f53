"""The password sign-in form, which says so when password sign-in is off for the username given."""

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from .backends import password_allowed


class LoginForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "local_login_off": "Password sign-in is turned off here: use single sign-on.",
    }

    def clean(self):
        if not password_allowed(self.cleaned_data.get("username")):
            raise forms.ValidationError(self.error_messages["local_login_off"], code="local_login_off")
        return super().clean()
