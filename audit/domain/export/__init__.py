"""Export bundles, pure parts: CSV cells safe for spreadsheets, redaction
profiles as data, the manifest and its signing bytes."""

from audit.domain.export.cells import (
    CSV_COLUMNS,
    EXTRA_COLUMN,
    csv_header,
    csv_row,
    neutralize_cell,
    restore_cell,
)
from audit.domain.export.manifest import (
    CHAIN_FILE,
    DIGESTS_FILE,
    MANIFEST_FILE,
    PUBLIC_KEY_FILE,
    SIGNATURE_FILE,
    ExportFormat,
    FileEntry,
    Manifest,
    Verification,
)
from audit.domain.export.redaction import PROFILES, RedactionProfile, profile, redact

__all__ = [
    "CHAIN_FILE",
    "CSV_COLUMNS",
    "DIGESTS_FILE",
    "EXTRA_COLUMN",
    "MANIFEST_FILE",
    "PROFILES",
    "PUBLIC_KEY_FILE",
    "SIGNATURE_FILE",
    "ExportFormat",
    "FileEntry",
    "Manifest",
    "RedactionProfile",
    "Verification",
    "csv_header",
    "csv_row",
    "neutralize_cell",
    "profile",
    "redact",
    "restore_cell",
]
