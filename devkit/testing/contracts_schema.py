"""Moved to :mod:`devkit.spec.schema_fit` (the gateway uses it too); kept for imports."""

from devkit.spec.schema_fit import (
    FieldProblem,
    Severity,
    TensorDtype,
    TypeInfo,
    compare_schemas,
    doclist_item,
    dtype_problems,
    field_path_exists,
    is_untyped,
    type_info,
)

__all__ = [
    "FieldProblem",
    "Severity",
    "TensorDtype",
    "TypeInfo",
    "compare_schemas",
    "doclist_item",
    "dtype_problems",
    "field_path_exists",
    "is_untyped",
    "type_info",
]
