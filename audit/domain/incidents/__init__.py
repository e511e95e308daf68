"""Incidents: built from detections, moved through a lifecycle, history kept."""

from audit.domain.incidents.correlation import (
    JOIN_ENTITY_KINDS,
    JOIN_WINDOW,
    CorrelationDecision,
    DecisionKind,
    apply_detection,
    correlate,
    incident_id_for,
    open_incident,
    process_detection,
    refresh_detection,
)
from audit.domain.incidents.lifecycle import (
    ALLOWED_TRANSITIONS,
    add_evidence,
    allowed_next,
    assign,
    legal_hold_request,
    record_decision,
    transition,
)
from audit.domain.incidents.model import (
    ACTIVE_STATUSES,
    DataRole,
    HistoryEntry,
    Incident,
    IncidentStatus,
    history_is_extension,
    role_for_category,
)

__all__ = [
    "ACTIVE_STATUSES",
    "ALLOWED_TRANSITIONS",
    "JOIN_ENTITY_KINDS",
    "JOIN_WINDOW",
    "CorrelationDecision",
    "DataRole",
    "DecisionKind",
    "HistoryEntry",
    "Incident",
    "IncidentStatus",
    "add_evidence",
    "allowed_next",
    "apply_detection",
    "assign",
    "correlate",
    "history_is_extension",
    "incident_id_for",
    "legal_hold_request",
    "open_incident",
    "process_detection",
    "record_decision",
    "refresh_detection",
    "role_for_category",
    "transition",
]
