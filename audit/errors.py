"""One error root for the project, with narrow subclasses.

A user-facing error says what was wrong and what to do about it; the
docstring of each subclass is written for the operator who meets it.
"""

from __future__ import annotations


class AuditError(Exception):
    """Root of every error raised on purpose by elastra-audit."""


class ConfigurationError(AuditError):
    """A setting, rule file, template or policy file is invalid.

    Fix the file or environment variable named in the message and restart.
    """


class StackError(AuditError):
    """The local Kafka/Elasticsearch stack could not be set up or started.

    The message names the missing tool, the taken port or the log to read.
    """


class EventRejected(AuditError):
    """A message cannot be accepted as an audit event.

    It is sent to the dead-letter topic with `error_type` and the message;
    the producer named in the event (or the source topic) must fix it.
    """

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message


class StoreUnavailable(AuditError):
    """Elasticsearch is unreachable or overloaded (429/5xx).

    Work pauses and is retried with back-off; nothing is committed meanwhile.
    Check the cluster's health if this persists.
    """


class InvalidTransition(AuditError):
    """A lifecycle change that the state machine does not allow was asked for."""


class NotFound(AuditError):
    """The requested record does not exist (or is not visible to the caller)."""


class ConflictError(AuditError):
    """A concurrent writer changed the record; re-read and retry."""
