"""Disclosure-decision checklists: templates as data, decisions, deadlines, evaluation."""

from audit.domain.checklists.attributes import (
    AttributesConfig,
    OrgAttributes,
    PlatformAttributes,
    parse_attributes,
)
from audit.domain.checklists.decisions import (
    DecisionRefused,
    ItemDecision,
    append_decision,
    decisions_by_item,
    latest_decisions,
)
from audit.domain.checklists.evaluation import (
    ChecklistItemState,
    ItemStatus,
    evaluate_checklist,
    evaluate_items,
    refuse_late_without_reasons,
    validate_decision,
)
from audit.domain.checklists.facts import FactValue, IncidentFacts, incident_fact_map
from audit.domain.checklists.template import (
    ChecklistTemplate,
    ItemTemplate,
    parse_template,
)
from audit.domain.data_files import DataFileError
from audit.domain.legal.deadlines import BusinessCalendar, add_months, to_utc
from audit.domain.legal.hold_requests import HoldRequest, hold_id_for

__all__ = [
    "AttributesConfig",
    "BusinessCalendar",
    "ChecklistItemState",
    "ChecklistTemplate",
    "DataFileError",
    "DecisionRefused",
    "FactValue",
    "HoldRequest",
    "IncidentFacts",
    "ItemDecision",
    "ItemStatus",
    "ItemTemplate",
    "OrgAttributes",
    "PlatformAttributes",
    "add_months",
    "append_decision",
    "decisions_by_item",
    "evaluate_checklist",
    "evaluate_items",
    "hold_id_for",
    "incident_fact_map",
    "latest_decisions",
    "parse_attributes",
    "parse_template",
    "refuse_late_without_reasons",
    "to_utc",
    "validate_decision",
]
