"""The catalogue as code: a catalogue version as a YAML file, its JSON Schema, and the checks an edited file
passes before it becomes a new version (reviews.services.import_catalogue).

The file holds the version's label and its categories in order, each with its items and the gate's
minimum; numbers are not in the file: the 14 built-in categories keep theirs (1–14, by code), an
organisation's own categories are numbered from 15 in the order of the file. Pure functions over plain
data, except `version_data` (reads one version) and `export_yaml`."""

from __future__ import annotations

from dataclasses import dataclass

import yaml
from jsonschema import Draft202012Validator

from . import read_version

FORMAT = "readiness-catalogue/1"
MAX_BYTES = 1_000_000
LEVELS = ("P0", "P1")
WHEN = ("always", "schema_changing", "production_traffic")
CATEGORY_CODE = r"^[a-z0-9]+(-[a-z0-9]+)*$"
ITEM_CODE = r"^[a-z0-9]+([.-][a-z0-9]+)*$"

# The built-in categories, {code: (number, name)}: version 1's. Every version keeps them under these codes
# (evidence kinds, probes and the guide refer to them); their names, items and minimums may change.
BUILT_IN = {c["code"]: (c["number"], c["name"]) for c in read_version(1)["categories"]}
FIRST_OWN_NUMBER = max(number for number, _ in BUILT_IN.values()) + 1

SCHEMA: dict = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://readiness.invalid/catalogue/schema.json",
    "title": "Readiness checklist catalogue",
    "description": "A checklist catalogue version of Readiness: categories, checklist items, which items "
    "are critical, and the gate's minimum scores. Import it as a new version on the Catalogue page.",
    "type": "object",
    "additionalProperties": False,
    "required": ["format", "label", "categories"],
    "properties": {
        "format": {"const": FORMAT, "description": "The version of this file format."},
        "label": {"type": "string", "minLength": 1, "maxLength": 120, "description": "The version's name."},
        "categories": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/category"}},
    },
    "$defs": {
        "category": {
            "type": "object",
            "additionalProperties": False,
            "required": ["code", "name", "items"],
            "properties": {
                "code": {
                    "type": "string",
                    "pattern": CATEGORY_CODE,
                    "maxLength": 40,
                    "description": "Lower-case letters, digits and hyphens. The 14 built-in codes stay.",
                },
                "name": {"type": "string", "minLength": 1, "maxLength": 120},
                "description": {"type": "string"},
                "minimum": {
                    "description": "The gate's minimum score for this category, or null for none.",
                    "oneOf": [
                        {"type": "null"},
                        {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["score"],
                            "properties": {
                                "score": {"type": "integer", "minimum": 1, "maximum": 3},
                                "when": {"enum": list(WHEN), "default": "always"},
                            },
                        },
                    ],
                },
                "items": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/item"}},
            },
        },
        "item": {
            "type": "object",
            "additionalProperties": False,
            "required": ["code", "text"],
            "properties": {
                "code": {
                    "type": "string",
                    "pattern": ITEM_CODE,
                    "maxLength": 120,
                    "description": "Unique in the file, e.g. backup.restore-drill.",
                },
                "text": {"type": "string", "minLength": 1},
                "guidance": {"type": "string"},
                "critical": {
                    "enum": ["P0", "P1", None],
                    "description": "The level of the finding a No opens (P0 blocker, P1 serious); null: "
                    "an ordinary item.",
                },
            },
        },
    },
}
VALIDATOR = Draft202012Validator(SCHEMA)


@dataclass(frozen=True)
class Problem:
    """One reason the file cannot be imported, and where: `categories[3].items[2].code`."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


# --- Export


def version_data(version) -> dict:
    """A CatalogueVersion as the file's data (plain values, in catalogue order): two queries."""
    from ..models import ChecklistItem

    items: dict[int, list[dict]] = {}
    for item in ChecklistItem.objects.filter(category__version=version).order_by("position", "pk"):
        entry = {"code": item.code, "text": item.text}
        if item.guidance:
            entry["guidance"] = item.guidance
        entry["critical"] = item.critical_level
        items.setdefault(item.category_id, []).append(entry)
    categories = []
    for category in version.categories.order_by("number"):
        minimum = None
        if category.minimum_score is not None:
            minimum = {"score": category.minimum_score, "when": category.minimum_when or "always"}
        categories.append(
            {
                "code": category.code,
                "name": category.name,
                "description": category.description,
                "minimum": minimum,
                "items": items.get(category.pk, []),
            }
        )
    return {"format": FORMAT, "label": version.label, "categories": categories}


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper, value: str):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def to_yaml(data: dict, *, header: str = "") -> str:
    body = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    return header + body


def export_yaml(version, *, schema_url: str = "") -> str:
    header = (
        f"# Readiness checklist catalogue, exported from version {version.number} ({version.label}).\n"
        "# Edit it, then import it on the Catalogue page (or `manage.py catalogue import`): it becomes\n"
        "# a new version that new reviews use; reviews already started keep theirs.\n"
        "# The 14 built-in categories keep their codes; your own categories go after them.\n"
        "# critical: P0 or P1 makes an item critical (a No opens that finding); null makes it ordinary.\n"
        "# minimum: the gate's minimum score, when: always, schema_changing or production_traffic.\n"
    )
    if schema_url:
        header += f"# yaml-language-server: $schema={schema_url}\n"
    return to_yaml(version_data(version), header=header)


# --- Import: read and check


def _where(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _schema_message(error) -> str:
    v = error.validator
    if v == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return f"“{missing}” is missing"
    if v == "additionalProperties":
        return error.message.replace("Additional properties are not allowed", "unknown key")
    if v == "type":
        want = {"string": "text (in quotes if it looks like a number or date)", "array": "a list"}.get(
            error.validator_value, f"of type {error.validator_value}"
        )
        return f"must be {want}, not {error.instance!r}"
    if v == "pattern":
        what = "lower-case letters, digits and hyphens" + (" or dots" if "." in error.validator_value else "")
        return f"“{error.instance}” is not a valid code: use {what}"
    if v == "enum":
        allowed = ", ".join("null" if x is None else str(x) for x in error.validator_value)
        return f"must be one of {allowed}, not {error.instance!r}"
    if v == "const":
        return f"must be “{error.validator_value}”"
    if v == "minLength":
        return "must not be empty"
    if v == "maxLength":
        return f"is longer than {error.validator_value} characters"
    if v == "minItems":
        return "must not be an empty list"
    if v in ("minimum", "maximum"):
        return f"must be from 1 to 3, not {error.instance!r}"
    if v == "oneOf":
        return "must be null or {score: 1–3, when: always | schema_changing | production_traffic}"
    return error.message


def _schema_errors(data) -> list:
    """The schema's errors in file order. A minimum that is an object but wrong gives the errors of its
    fields (not "is not null")."""
    found = []
    for error in VALIDATOR.iter_errors(data):
        inner = (
            [e for e in error.context or () if e.validator != "type"] if error.validator == "oneOf" else []
        )
        found.extend(inner if isinstance(error.instance, dict) and inner else [error])

    def order(error):
        return [(0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in error.absolute_path]

    return sorted(found, key=order)


def parse(text: str) -> tuple[dict | None, list[Problem]]:
    """The file's data, or the YAML error with its line and column."""
    if len(text.encode("utf-8", "replace")) > MAX_BYTES:
        return None, [Problem("", f"The file is larger than {MAX_BYTES // 1000} kB.")]
    try:
        # Aliases could make a small file expand into a huge one; an exported catalogue has none.
        if any(isinstance(t, yaml.AliasToken) for t in yaml.scan(text, Loader=yaml.SafeLoader)):
            return None, [
                Problem("", "YAML anchors and aliases (*name) are not accepted; write the text out.")
            ]
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        return None, [Problem(where, f"not valid YAML: {problem}")]
    if not isinstance(data, dict):
        return None, [Problem("", "The file must be a YAML mapping with format, label and categories.")]
    return data, []


def check(data: dict) -> list[Problem]:
    """Every problem of the file: the JSON Schema's, then the catalogue's own rules (unique codes, the
    built-in categories present). Nothing is left out so one import attempt shows all of them."""
    problems = [Problem(_where(e.absolute_path), _schema_message(e)) for e in _schema_errors(data)]
    categories = data.get("categories") if isinstance(data.get("categories"), list) else []
    seen_categories: dict[str, int] = {}
    seen_items: dict[str, str] = {}
    for i, category in enumerate(categories):
        if not isinstance(category, dict):
            continue
        code = category.get("code")
        if isinstance(code, str):
            if code in seen_categories:
                problems.append(
                    Problem(
                        f"categories[{i}].code",
                        f"the category code “{code}” is already used by categories[{seen_categories[code]}]",
                    )
                )
            else:
                seen_categories[code] = i
        for field in ("name",):
            if isinstance(category.get(field), str) and category[field] and not category[field].strip():
                problems.append(Problem(f"categories[{i}].{field}", "must not be blank"))
        items = category.get("items") if isinstance(category.get("items"), list) else []
        for j, item in enumerate(items):
            if not isinstance(item, dict):
                continue
            where = f"categories[{i}].items[{j}]"
            item_code = item.get("code")
            if isinstance(item_code, str):
                if item_code in seen_items:
                    problems.append(
                        Problem(
                            f"{where}.code",
                            f"the item code “{item_code}” is already used by {seen_items[item_code]}",
                        )
                    )
                else:
                    seen_items[item_code] = where
            if isinstance(item.get("text"), str) and item["text"] and not item["text"].strip():
                problems.append(Problem(f"{where}.text", "must not be blank"))
    missing = [
        f"“{code}” ({number}. {name})"
        for code, (number, name) in BUILT_IN.items()
        if code not in seen_categories
    ]
    if categories and missing:
        problems.append(
            Problem(
                "categories",
                f"{'the built-in category' if len(missing) == 1 else f'{len(missing)} built-in categories:'} "
                f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing. The 14 built-in "
                "categories stay, under their codes: rename them or change their items instead.",
            )
        )
    return problems


def read(text: str) -> tuple[dict | None, list[Problem]]:
    """Parse and check a file: (data, []) when it can be imported, else (None, every problem)."""
    data, problems = parse(text)
    if problems:
        return None, problems
    problems = check(data)
    return (None, problems) if problems else (data, [])


def numbered(data: dict) -> list[tuple[int, dict]]:
    """The checked file's categories with their numbers: built-in ones theirs, the organisation's own
    from 15 in file order; sorted by number."""
    own = FIRST_OWN_NUMBER
    result = []
    for category in data["categories"]:
        if category["code"] in BUILT_IN:
            result.append((BUILT_IN[category["code"]][0], category))
        else:
            result.append((own, category))
            own += 1
    return sorted(result, key=lambda pair: pair[0])


# --- Diff


@dataclass(frozen=True)
class Change:
    kind: str  # "added", "removed", "changed"
    what: str  # "category", "item", "label"
    code: str
    details: tuple[str, ...] = ()  # for "changed": one sentence per field
    critical: bool = False  # the change makes an item critical, ordinary, or changes its level


def _minimum_text(minimum) -> str:
    if not minimum:
        return "no minimum"
    when = {"always": "always", "schema_changing": "on schema-changing releases"}.get(
        minimum.get("when", "always"), "under production traffic"
    )
    return f"at least {minimum['score']} {when}"


def _level_text(level) -> str:
    return {"P0": "critical (P0)", "P1": "critical (P1)"}.get(level, "ordinary")


def diff(old: dict, new: dict) -> list[Change]:
    """What changes from `old` to `new` (the file's data of two versions), categories in the new order."""
    changes: list[Change] = []
    if old["label"] != new["label"]:
        changes.append(Change("changed", "label", "", (f"label “{old['label']}” → “{new['label']}”",)))
    old_cats = {c["code"]: c for c in old["categories"]}
    new_cats = {c["code"]: c for c in new["categories"]}
    old_items = {i["code"]: (c["code"], i) for c in old["categories"] for i in c["items"]}
    new_items = {i["code"]: (c["code"], i) for c in new["categories"] for i in c["items"]}
    for code, cat in new_cats.items():
        before = old_cats.get(code)
        if before is None:
            changes.append(
                Change("added", "category", code, (f"“{cat['name']}”", _minimum_text(cat["minimum"])))
            )
            continue
        details = []
        if before["name"] != cat["name"]:
            details.append(f"name “{before['name']}” → “{cat['name']}”")
        if (before.get("description") or "") != (cat.get("description") or ""):
            details.append("description changed")
        if _minimum_text(before.get("minimum")) != _minimum_text(cat.get("minimum")):
            details.append(
                f"gate minimum: {_minimum_text(before.get('minimum'))} → {_minimum_text(cat.get('minimum'))}"
            )
        if details:
            changes.append(Change("changed", "category", code, tuple(details)))
    for code in sorted(old_cats.keys() - new_cats.keys()):
        changes.append(Change("removed", "category", code, (f"“{old_cats[code]['name']}”",)))
    for code, (cat_code, item) in new_items.items():
        was = old_items.get(code)
        if was is None:
            changes.append(
                Change(
                    "added",
                    "item",
                    code,
                    (f"in {cat_code}", _level_text(item.get("critical")), item["text"]),
                    critical=bool(item.get("critical")),
                )
            )
            continue
        old_cat, before = was
        details, level_changed = [], before.get("critical") != item.get("critical")
        if old_cat != cat_code:
            details.append(f"moved from {old_cat} to {cat_code}")
        if level_changed:
            details.append(f"{_level_text(before.get('critical'))} → {_level_text(item.get('critical'))}")
        if before["text"] != item["text"]:
            details.append(f"text “{before['text']}” → “{item['text']}”")
        if (before.get("guidance") or "") != (item.get("guidance") or ""):
            details.append("guidance changed")
        if details:
            changes.append(Change("changed", "item", code, tuple(details), critical=level_changed))
    for code in sorted(old_items.keys() - new_items.keys()):
        cat_code, item = old_items[code]
        changes.append(Change("removed", "item", code, (f"from {cat_code}", item["text"])))
    order = {"label": 0, "category": 1, "item": 2}
    kinds = {"added": 0, "changed": 1, "removed": 2}
    return sorted(changes, key=lambda c: (order[c.what], kinds[c.kind]))
