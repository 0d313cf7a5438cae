"""Moved to :mod:`emobalance.teachers`; this module re-exports it for old imports."""

from ..teachers import (  # noqa: F401  (moved; shim removed at merge)
    CachedTeacher,
    ClassifierTeacher,
    EnsembleTeacher,
    HFTeacher,
    Teacher,
    TeacherError,
    teacher_proba,
)
