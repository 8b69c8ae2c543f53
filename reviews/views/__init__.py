"""Pages of the review domain, one module per area. Thin: fetch with access checks, call one service
or selector, render."""

from .access import _apply, _get_review_for_user, _get_system_for_user, _page  # noqa: F401  (used by other apps)
from .auditor import audit_trail, audit_trail_csv, auditor_decisions, verify  # noqa: F401
from .decisions import (  # noqa: F401
    decision_create,
    decision_detail,
    decision_json,
    decision_pdf,
    review_audit,
    review_audit_csv,
)
from .findings import (  # noqa: F401
    claim_create,
    exception_decide,
    exception_detail,
    exception_edit,
    exception_queue,
    exception_request,
    finding_create,
    finding_edit,
)
from .review import (  # noqa: F401
    checklist_answer,
    checklist_answer_undo,
    review_checklist,
    review_create,
    review_detail,
    review_edit,
    score_edit,
)
from .systems import dashboard, system_create, system_detail, system_edit  # noqa: F401
