"""Privacy probes (seed §15): PII-looking columns without a classification, and such columns sent to CDC."""

from __future__ import annotations

from typing import Any

from ..registry import Probe, Verdict, register
from .sql import not_extension_member, user_schema
from .verdicts import fail, table, verdict

# Column names that usually hold personal data; regular expressions matched case-insensitively on the
# whole name split at underscores. A target adds its own (e.g. "(^|_)npwp($|_)") in params.
PII_PATTERNS = [
    r"(^|_)e?mail(_?address)?($|_)",
    r"(^|_)(phone|mobile|msisdn|fax)($|_)",
    r"(^|_)(national_id|nik|ssn|nin|tax_id|npwp|passport|id_card|driver_licen[cs]e)($|_)",
    r"(^|_)(birth_?date|date_of_birth|dob|birthday)($|_)",
    r"(^|_)(address|street|postcode|postal_code|zip_code)($|_)",
    r"(^|_)(first_name|last_name|full_name|surname|maiden_name)($|_)",
    r"(^|_)(iban|card_number|pan|account_number)($|_)",
    r"(^|_)ip_address($|_)",
]
_MARKERS = ["pii:", "classification:"]

# One combined expression, compiled once, rather than `~* any(array)`: the catalog holds every column.
_UNCLASSIFIED = """a.attname ~* ('(' || array_to_string(%(pii_patterns)s::text[], ')|(') || ')')
  and (d.description is null
       or not exists (select 1 from unnest(%(classification_markers)s::text[]) m
                      where strpos(lower(d.description), lower(m)) > 0))"""
_COLUMNS = f"""
from pg_attribute a
join pg_class c on c.oid = a.attrelid
join pg_namespace n on n.oid = c.relnamespace
left join pg_description d on d.objoid = c.oid and d.classoid = 'pg_class'::regclass and d.objsubid = a.attnum
where a.attnum > 0 and not a.attisdropped and c.relkind in ('r', 'p', 'm') and not c.relispartition
  and {user_schema()} and {not_extension_member()}
  and {_UNCLASSIFIED}"""


def _pii_unclassified(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    items = [
        fail(
            f"{table(r)}.{r['column']}",
            "looks like personal data but carries no classification comment"
            + (f" (comment: {r['description']!r})" if r["description"] else ""),
            type=r["type"],
        )
        for r in rows
    ]
    return verdict(
        items,
        ok="every PII-looking column carries a classification",
        found="{n} unclassified PII-looking column{s}",
    )


register(
    Probe(
        id="privacy.pii-columns-unclassified",
        category="privacy",
        severity="P2",
        title="PII-looking columns without classification",
        checks="Columns named like personal data (email, phone, national id, birth date, address, ...) whose "
        "comment carries no 'pii:' or 'classification:' marker. Unclassified PII cannot be masked, "
        "retained, exported or erased by rule.",
        fix="COMMENT ON COLUMN <schema>.<table>.<col> IS 'pii: contact; classification: restricted; "
        "retention: 2y after closure';",
        sql=f"""
select n.nspname as schema, c.relname as table, a.attname as column,
       format_type(a.atttypid, a.atttypmod) as type, d.description
{_COLUMNS}
order by 1, 2, 3
""",
        evaluate=_pii_unclassified,
        params={"pii_patterns": PII_PATTERNS, "classification_markers": _MARKERS},
        seed="15.1",
    )
)


def _pii_published(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    items = [
        fail(
            f"{table(r)}.{r['column']}",
            f"unclassified PII-looking column published to CDC by {', '.join(r['publications'])}",
            publications=r["publications"],
        )
        for r in rows
    ]
    return verdict(
        items,
        ok="no unclassified PII-looking column is published",
        found="{n} unclassified PII column(s) in CDC",
    )


register(
    Probe(
        id="privacy.pii-in-publications",
        category="privacy",
        severity="P1",
        title="Unclassified PII published to CDC",
        checks="PII-looking, unclassified columns of tables in a logical-replication publication (column "
        "lists honoured on PostgreSQL 15+). PII reaching CDC or a warehouse unclassified is a P0 blocker "
        "(Guide: Severity levels).",
        fix="Classify the column (COMMENT ON COLUMN ... IS 'pii: ...'), and leave it out of the publication: "
        "ALTER PUBLICATION <pub> SET TABLE <t> (<columns without it>);",
        sql=f"""
select n.nspname as schema, c.relname as table, a.attname as column,
       array_agg(distinct pt.pubname::text) as publications
from pg_publication_tables pt
join pg_namespace n on n.nspname = pt.schemaname
join pg_class c on c.relnamespace = n.oid and c.relname = pt.tablename
join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
left join pg_description d on d.objoid = c.oid and d.classoid = 'pg_class'::regclass and d.objsubid = a.attnum
where {user_schema()} and {_UNCLASSIFIED}
  and (to_jsonb(pt) -> 'attnames' is null or jsonb_exists(to_jsonb(pt) -> 'attnames', a.attname::text))
group by 1, 2, 3
order by 1, 2, 3
""",
        evaluate=_pii_published,
        params={"pii_patterns": PII_PATTERNS, "classification_markers": _MARKERS},
        seed="15.2",
    )
)
