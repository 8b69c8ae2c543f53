"""Every probe, one module per area; importing this package registers them all (see probes.registry)."""

from . import (  # noqa: F401
    auth,
    capacity,
    datamodel,
    indexes,
    maintenance,
    privacy,
    replication,
    schema,
    security,
    settings,
    workload,
)
from .sql import COMMON_PARAMS  # noqa: F401
