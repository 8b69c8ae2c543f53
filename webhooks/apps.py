from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Outgoing notifications"

    def ready(self) -> None:
        from . import events

        events.connect_signals()
