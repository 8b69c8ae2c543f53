"""The project's own app config: connects what operators watch (metrics) once models are loaded."""

from django.apps import AppConfig


class ReadinessOpsConfig(AppConfig):
    name = "readiness"
    label = "readiness_ops"
    verbose_name = "Readiness operations"

    def ready(self) -> None:
        from . import metrics

        metrics.connect_signals()
