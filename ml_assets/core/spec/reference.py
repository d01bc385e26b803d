"""The spec reference (docs/spec-reference.md), generated from the spec's pydantic models: every
field with its type, default, limits and description. The descriptions are the field docstrings in
spec.py, so the code and the reference cannot drift apart; a test fails when the committed file
differs from what this writes.

    uv run python -m ml_assets.core.spec.reference > docs/spec-reference.md
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from ml_assets.core.spec import PipelineSpec


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return " \\| ".join(f"`{v}`" for v in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type_name(a) for a in typing.get_args(annotation) if a is not type(None)) + " \\| null"
    if origin in (list, dict):
        args = ", ".join(_type_name(a) for a in typing.get_args(annotation))
        return f"{origin.__name__}[{args}]"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    return getattr(annotation, "__name__", str(annotation)).replace("datetime.", "")


def _model_of(annotation: Any) -> type[BaseModel] | None:
    candidates = [annotation, *typing.get_args(annotation)]
    for a in candidates:
        if isinstance(a, type) and issubclass(a, BaseModel):
            return a
        for inner in typing.get_args(a):
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                return inner
    return None


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]  # the spec's factories take no argument
        if isinstance(value, BaseModel):
            return "(see below)" if value.model_dump(exclude_defaults=True) == {} else f"`{value.model_dump()}`"
        return f"`{value!r}`" if value not in ([], {}) else "empty"
    if field.default is PydanticUndefined or field.default is None:
        return "none"
    return f"`{field.default!r}`" if not isinstance(field.default, str) else f"`{field.default}`"


def _limits(field: FieldInfo) -> str:
    out = []
    for m in field.metadata:
        for attr, word in (
            ("ge", "≥"),
            ("gt", ">"),
            ("le", "≤"),
            ("lt", "<"),
            ("min_length", "at least"),
            ("pattern", "matches"),
        ):
            if getattr(m, attr, None) is not None:
                value = getattr(m, attr)
                out.append(
                    f"{word} `{value}`"
                    if attr in ("pattern",)
                    else f"{word} {value:g}"
                    if isinstance(value, float)
                    else f"{word} {value}"
                )
    return ", ".join(out)


def _rows(model: type[BaseModel], prefix: str, sections: list) -> list[str]:
    rows = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        nested = _model_of(field.annotation)
        description = " ".join((field.description or "").split()).replace("|", "\\|")
        rows.append(
            f"| `{path}` | {_type_name(field.annotation)} | {_default(field)} | {_limits(field)} | {description} |"
        )
        if nested is not None and nested is not model:
            sections.append((path, nested))
    return rows


def reference_markdown() -> str:
    header = ["| field | type | default | limits | what it does |", "|---|---|---|---|---|"]
    parts = [
        "# Spec reference",
        "",
        "Generated from `ml_assets/core/spec/` by `uv run python -m ml_assets.core.spec.reference`: do not edit "
        "by hand.",
        "A spec is one YAML file per model (`ml_assets/defs/<model>/spec.yaml`, or any file `ML_ASSETS_SPEC` names).",
        "`${VAR}` and `${VAR:-default}` anywhere in it are read from the environment when it loads.",
        "",
        "## Top level",
        "",
        *header,
    ]
    sections: list = []
    parts += _rows(PipelineSpec, "", sections)
    done = set()
    while sections:
        path, model = sections.pop(0)
        if path in done:
            continue
        done.add(path)
        doc = " ".join((model.__doc__ or "").split())
        parts += (
            ["", f"## `{path}`", ""]
            + ([doc, ""] if doc and not doc.startswith(("Usage docs", "A base class")) else [])
            + header
        )
        parts += _rows(model, f"{path}.", sections)
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    print(reference_markdown(), end="")
