"""Moved to :mod:`emobalance.annotation`; this module re-exports it for old imports."""

from ..annotation import (  # noqa: F401  (moved; shim removed at merge)
    VOTE_COLUMNS,
    apply_review,
    export_csv,
    export_label_studio,
    fleiss_kappa,
    fleiss_kappa_table,
    format_report,
    import_csv,
    import_label_studio,
    label_studio_config,
    load_votes,
    majority_vote,
)
