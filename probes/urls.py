"""URLs of the probe engine: targets, runs, invariant checks."""

urlpatterns: list = []
