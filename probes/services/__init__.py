"""Every state change of the probe domain, one module per area: targets and invariant checks
(`targets`), runs and the sweeper (`runs`), and what a finished run puts into its review (`findings`).
Each validates, writes and audits in one transaction; the network work of a run happens outside any."""

from reviews.services import ServiceError  # noqa: F401

from .findings import P2_DUE_DAYS, apply_findings, apply_run_to_review, probe_key  # noqa: F401
from .runs import (  # noqa: F401
    execute_run,
    heartbeat_stale_after,
    max_attempts,
    run_deadline,
    start_probe_run,
    start_scheduled_run,
    store_result,
    sweep_stale_runs,
    target_lock,
    worker_stops_it_within,
)
from .schedules import ScheduledStart, due_targets, start_due_runs  # noqa: F401
from .targets import (  # noqa: F401
    add_invariant_check,
    can_manage_targets,
    can_run_probes,
    check_params,
    create_target,
    delete_invariant_check,
    describe_connection_error,
    request_connection_test,
    scrub,
    test_connection,
    update_target,
)
