"""The input shapes of typed records: one schema per kind described in evidence.kinds (the ten kept as a
Record's JSON and the eight measured kinds kept in models of their own: restore drills, runbooks …), each
built from its Spec, never written by hand.

What a schema refuses is what the kind's own `Spec.clean` would refuse field by field (wrong type, an
unknown choice, too long, out of bounds, a required value blank, an unknown field), so a pipeline gets
every field error at once; checks across fields and against the review stay in the service."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from ninja import Schema
from pydantic import AfterValidator, BeforeValidator, ConfigDict, create_model
from pydantic import Field as PydanticField

from evidence import kinds
from evidence.kinds import spec as s

from .schemas import Day, Text, Url, When


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("Required.")
    return value


def _http_url(value: str) -> str:
    if value and not value.startswith(("https://", "http://")):
        raise ValueError("Give a full http:// or https:// address.")
    return value


Link = Annotated[
    Url, AfterValidator(_http_url), PydanticField(json_schema_extra={"pattern": r"^(https?://|$)"})
]


def Required(max_length: int):  # noqa: N802 (a type factory)
    """A text that must say something: "Required." for a blank one (as the services say)."""
    return Annotated[
        Text(max_length), AfterValidator(_not_blank), PydanticField(json_schema_extra={"minLength": 1})
    ]


def _not_a_box(value):
    """true is not a number (pydantic would read it as 1), as Spec.clean says."""
    if isinstance(value, bool):
        raise ValueError("Give a number.")
    return value


def _each_once(value: list | None) -> list | None:
    if value and len(set(value)) != len(value):
        raise ValueError("Name each at most once.")
    return value


class StrictIn(Schema):
    """Unknown fields are refused, not dropped: a misspelt optional field would otherwise vanish."""

    model_config = ConfigDict(extra="forbid")


def _codes(choices) -> str:
    return "; ".join(f"`{code}` ({label})" for code, label in choices)


def _figure(value: float) -> str:
    """0 as "0", 1e12 as "1,000,000,000,000", 99.5 as "99.5"."""
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,}"


def _description(f: kinds.Field) -> str:
    parts = [f.label.rstrip(".") + "."]
    if f.help:
        parts.append(f.help)
    if f.type in (s.CHOICE, s.MULTI):
        parts.append(("A list of any of: " if f.type == s.MULTI else "One of: ") + _codes(f.choices) + ".")
    if f.type == s.YESNO:
        parts.append("`yes` or `no`.")
    if f.type == s.DATE:
        parts.append("A date, YYYY-MM-DD.")
    if f.type == s.DATETIME:
        parts.append("A time with its offset from UTC, e.g. 2026-03-31T14:30:00+02:00.")
    if f.type == s.BOOL:
        parts.append("`true` or `false`." + ("" if f.required else " Left out: false."))
    if f.type == s.FLOAT:
        parts.append(f"A number from {_figure(f.min_value)} to {_figure(f.max_value)}.")
    if f.type == s.URL:
        parts.append("A full http:// or https:// address.")
    if f.wanted:
        parts.append("Asked for: a record without it is kept, as incomplete (it supports no score).")
    return " ".join(parts)


def _hard_required(f: kinds.Field) -> bool:
    """The service refuses a record without it (a wanted field is kept empty, as incomplete)."""
    return f.required and not f.wanted


def _annotation(f: kinds.Field) -> Any:
    required = _hard_required(f)
    if f.type in (s.LINE, s.TEXT, s.URL):
        text = Required(f.limit) if required else Text(f.limit)
        if f.type != s.URL:
            return text
        pattern = r"^https?://" if required else r"^(https?://|$)"
        return Annotated[
            text, AfterValidator(_http_url), PydanticField(json_schema_extra={"pattern": pattern})
        ]
    if f.type in (s.CHOICE, s.YESNO):
        return Literal[tuple(code for code, _ in f.all_choices)]
    if f.type == s.MULTI:
        item = Literal[tuple(code for code, _ in f.choices)]
        return Annotated[
            list[item],
            PydanticField(min_length=1 if required else 0, max_length=len(f.choices)),
            AfterValidator(_each_once),
        ]
    if f.type == s.INT:
        return Annotated[int, PydanticField(ge=f.min_value, le=f.max_value), BeforeValidator(_not_a_box)]
    if f.type == s.FLOAT:
        return Annotated[
            float,
            PydanticField(ge=f.min_value, le=f.max_value, allow_inf_nan=False),
            BeforeValidator(_not_a_box),
        ]
    if f.type == s.DATE:
        return Day
    if f.type == s.DATETIME:
        return When
    if f.type == s.BOOL:
        return bool
    raise ValueError(f"{f.name}: no API type for {f.type!r}")  # pragma: no cover (Field checks types)


def _field(f: kinds.Field) -> tuple[Any, Any]:
    annotation = _annotation(f)
    info: dict[str, Any] = {"title": f.label, "description": _description(f)}
    if _hard_required(f):
        return annotation, PydanticField(..., **info)
    return annotation | None, PydanticField(None, **info)


def schema_name(spec: kinds.Spec) -> str:
    """invariant -> InvariantIn, write_path -> WritePathIn."""
    return "".join(part.title() for part in spec.kind.split("_")) + "In"


def input_schema(spec: kinds.Spec) -> type[Schema]:
    """The kind's payload: its described fields, a `title` where the kind's title may be given
    (Spec.titled), and `url` (a link to the record where it lives)."""
    for reserved in ("url", "title"):
        if reserved in spec.by_name:  # pragma: no cover (a description error, caught by the tests at import)
            raise ValueError(f"{spec.kind}: a field may not be called {reserved}; the evidence's own is")
    fields = {f.name: _field(f) for f in spec.fields}
    if spec.titled:
        fields["title"] = (
            Text(200) | None,
            PydanticField(
                None,
                title="Title",
                description=f"The evidence's title, e.g. {spec.label}. Left out or empty: made from "
                "its values.",
            ),
        )
    url_info = {
        "title": spec.url_label if spec.url_label != "Link" else "Link to the record",
        "description": "Where the record lives (a wiki page, a repository file, a report): a full http:// "
        "or https:// address." + (" Required." if spec.url_required else ""),
    }
    fields["url"] = (
        (Link, PydanticField(..., min_length=1, **url_info))
        if spec.url_required
        else (Link | None, PydanticField("", **url_info))
    )
    return create_model(
        schema_name(spec), __base__=StrictIn, __doc__=spec.description, __module__=__name__, **fields
    )


def path_of(spec: kinds.Spec) -> str:
    """The operation's last path segment: invariant -> invariants, write_path -> write-paths; a kind
    already plural keeps its name (recovery_objectives -> recovery-objectives)."""
    name = spec.kind.replace("_", "-")
    return name if name.endswith("s") else name + "s"


@dataclass(frozen=True)
class Declared:
    spec: kinds.Spec
    path: str  # "write-paths"
    name: str  # the operation: "post_write_path"
    schema: type[Schema]


DECLARED: tuple[Declared, ...] = tuple(
    Declared(spec, path_of(spec), f"post_{spec.kind}", input_schema(spec)) for spec in kinds.KINDS.values()
)


# The kinds kept in models of their own (restore drills, runbooks, load tests …), from the same descriptions.
MEASURED: tuple[Declared, ...] = tuple(
    Declared(spec, path_of(spec), f"post_{spec.kind}", input_schema(spec)) for spec in kinds.MEASURED.values()
)
SCHEMAS: dict[str, type[Schema]] = {d.spec.kind: d.schema for d in (*MEASURED, *DECLARED)}
# The runbook with its whole template (14 fields) and the required runbook it covers.
RunbookIn = SCHEMAS["runbook"]


__all__ = ["DECLARED", "MEASURED", "SCHEMAS", "RunbookIn", "input_schema", "path_of", "schema_name"]
