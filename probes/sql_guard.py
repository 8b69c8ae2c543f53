"""The guard on user-written invariant checks (seed §6.1, §11.4): one read-only SELECT, parsed by
PostgreSQL's own grammar (pglast, libpg_query), or a clear refusal. Pure, no database.

What passes: exactly one statement that is a SELECT (set operations, VALUES and TABLE included) or a
WITH whose every CTE is a SELECT; no SELECT INTO, no locking clause (FOR UPDATE/SHARE, in subqueries
too), no $n parameter; every node of the parse tree is of a kind known to be an expression or a clause
of a query; every function call is unqualified or qualified with pg_catalog and named on an allow-list of
built-ins that have no side effect; operators qualified with pg_catalog only; no '...' string with a
backslash before a quote. Names are the names the server reads (U&"..." decoded, "quoted" kept as
written, bare words folded to lower case).

The guard parses with standard_conforming_strings on: the engine sets it on in the transaction that
runs the check, so the server reads the text as the guard did. It also sends the check with the extended
protocol (one statement per execute), in a read-only transaction with a fixed search_path and timeouts,
and refuses the check when a function or operator it names unqualified is shadowed on the target by one
outside pg_catalog that could do anything, or when a type it names runs code of its own (see
`Inspected` and engine.run_invariant).

What the guard cannot see: code the target's owners attached to the objects a check reads (a view that
calls a function, a row-security policy, a cast from a column's own type). The read-only transaction,
the timeouts and a probe role without write privileges remain the walls there.
"""

from __future__ import annotations

from dataclasses import dataclass

from pglast import ast, parse_sql
from pglast.enums import SetOperation
from pglast.parser import ParseError, scan
from pglast.visitors import Visitor

MAX_INVARIANT_CHARS = 20_000
_MAX_NAME_SHOWN = 60

# Built-in functions a check may call: pure computations, aggregates, reads of the catalog and settings.
# None writes, signals, locks, reads files, opens connections, runs SQL given as text or changes the
# session. pg_sleep* only waits: statement_timeout bounds it. repeat() and array_fill() are left out: one
# call can allocate a gigabyte on the target.
_ALLOWED = """
    count sum avg min max bool_and bool_or every array_agg string_agg json_agg jsonb_agg
    json_object_agg jsonb_object_agg json_agg_strict jsonb_agg_strict json_object_agg_strict
    jsonb_object_agg_strict json_object_agg_unique jsonb_object_agg_unique json_object_agg_unique_strict
    jsonb_object_agg_unique_strict any_value bit_and bit_or bit_xor xmlagg range_agg range_intersect_agg
    stddev stddev_pop stddev_samp variance var_pop var_samp corr covar_pop covar_samp regr_avgx regr_avgy
    regr_count regr_intercept regr_r2 regr_slope regr_sxx regr_sxy regr_syy percentile_cont
    percentile_disc mode
    row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value last_value nth_value
    length char_length character_length octet_length bit_length lower upper initcap btrim ltrim rtrim
    substr substring left right position strpos replace translate concat concat_ws format lpad rpad
    reverse split_part starts_with md5 sha224 sha256 sha384 sha512 encode decode to_hex ascii chr
    quote_ident quote_literal quote_nullable string_to_array string_to_table array_to_string unistr
    normalize is_normalized overlay to_char to_number to_date to_timestamp like_escape similar_to_escape
    convert_from convert_to get_byte get_bit bit_count crc32 crc32c
    regexp_match regexp_matches regexp_replace regexp_split_to_array regexp_split_to_table regexp_count
    regexp_instr regexp_like regexp_substr
    abs ceil ceiling floor round trunc sign sqrt cbrt power pow exp ln log log10 mod div pi degrees
    radians sin cos tan cot asin acos atan atan2 sind cosd tand cotd asind acosd atand atan2d sinh cosh
    tanh asinh acosh atanh width_bucket gcd lcm factorial scale min_scale trim_scale erf erfc
    now current_timestamp clock_timestamp statement_timestamp transaction_timestamp timeofday date_trunc
    date_part extract age make_date make_time make_timestamp make_timestamptz make_interval
    justify_days justify_hours justify_interval isfinite date_bin timezone overlaps date_add
    date_subtract
    to_json to_jsonb row_to_json array_to_json json_build_object jsonb_build_object json_build_array
    jsonb_build_array json_object jsonb_object json_array_length jsonb_array_length json_extract_path
    json_extract_path_text jsonb_extract_path jsonb_extract_path_text json_typeof jsonb_typeof
    json_array_elements json_array_elements_text jsonb_array_elements jsonb_array_elements_text
    json_each json_each_text jsonb_each jsonb_each_text json_object_keys jsonb_object_keys
    json_populate_record json_populate_recordset jsonb_populate_record jsonb_populate_recordset
    json_to_record json_to_recordset jsonb_to_record jsonb_to_recordset json_strip_nulls
    jsonb_strip_nulls jsonb_pretty jsonb_set jsonb_set_lax jsonb_insert jsonb_path_exists
    jsonb_path_match jsonb_path_query jsonb_path_query_array jsonb_path_query_first
    jsonb_path_exists_tz jsonb_path_match_tz jsonb_path_query_tz jsonb_path_query_array_tz
    jsonb_path_query_first_tz
    array_length cardinality array_upper array_lower array_dims array_ndims array_position
    array_positions array_remove array_replace array_append array_prepend array_cat
    trim_array unnest generate_series generate_subscripts
    num_nulls num_nonnulls
    isempty lower_inc upper_inc lower_inf upper_inf range_merge multirange int4range int8range numrange
    tsrange tstzrange daterange int4multirange int8multirange nummultirange tsmultirange tstzmultirange
    datemultirange
    to_tsvector to_tsquery plainto_tsquery phraseto_tsquery websearch_to_tsquery ts_rank ts_rank_cd
    ts_headline numnode querytree setweight strip tsvector_to_array array_to_tsvector
    xpath xpath_exists xmlexists xml_is_well_formed xml_is_well_formed_document
    xml_is_well_formed_content xmlcomment xmltext
    host hostmask masklen netmask network family abbrev broadcast inet_same_family inet_merge
    text int2 int4 int8 numeric float4 float8 bool date time timestamp timestamptz interval varchar
    bpchar
    current_setting current_database current_schema current_schemas system_user version
    pg_typeof pg_collation_for pg_column_size format_type
    pg_relation_size pg_total_relation_size pg_table_size pg_indexes_size pg_database_size
    pg_tablespace_size pg_size_pretty pg_size_bytes
    has_table_privilege has_column_privilege has_any_column_privilege has_schema_privilege
    has_database_privilege has_function_privilege has_sequence_privilege pg_has_role
    pg_get_viewdef pg_get_indexdef pg_get_constraintdef pg_get_expr pg_get_triggerdef
    pg_get_functiondef pg_get_function_arguments pg_get_function_result pg_get_userbyid
    pg_get_serial_sequence obj_description col_description shobj_description
    to_regclass to_regtype to_regproc to_regprocedure to_regnamespace to_regrole to_regoper
    to_regoperator to_regcollation
    pg_is_in_recovery pg_last_xact_replay_timestamp pg_postmaster_start_time pg_conf_load_time
    pg_backend_pid pg_encoding_to_char age mxid_age
    pg_sleep pg_sleep_for pg_sleep_until
"""
ALLOWED_FUNCTIONS = frozenset(_ALLOWED.split())

# Why a few well-known functions are refused, for the message; any other unlisted function gets the
# general one.
_REASONS = {
    "runs SQL given as text": (
        "query_to_xml query_to_xmlschema query_to_xml_and_xmlschema cursor_to_xml cursor_to_xmlschema "
        "table_to_xml table_to_xmlschema table_to_xml_and_xmlschema schema_to_xml schema_to_xmlschema "
        "schema_to_xml_and_xmlschema database_to_xml database_to_xmlschema database_to_xml_and_xmlschema "
        "ts_stat ts_rewrite"
    ),
    "reads server files": "pg_read_file pg_read_binary_file pg_stat_file",
    "signals server processes": (
        "pg_terminate_backend pg_cancel_backend pg_reload_conf pg_rotate_logfile "
        "pg_log_backend_memory_contexts pg_promote pg_switch_wal"
    ),
    "changes settings": "set_config",
    "uses sequences": "nextval setval currval lastval",
    "sends notifications": "pg_notify",
    "assigns a transaction id": "txid_current pg_current_xact_id",
}
_REASON_BY_NAME = {name: reason for reason, names in _REASONS.items() for name in names.split()}
_REASON_BY_PREFIX = (
    ("pg_advisory", "takes advisory locks"),
    ("pg_try_advisory", "takes advisory locks"),
    ("pg_ls_", "lists server files"),
    ("pg_read_", "reads server files"),
    ("pg_file_", "writes server files"),
    ("lo_", "reads or writes large objects"),
    ("dblink", "connects to other databases"),
)
_ALLOWED_HELP = (
    "a check may call built-in functions without side effects only: aggregates, window, comparison, "
    "string, math, date/time, JSON, array, range, regular-expression, text-search and "
    "catalog-information functions"
)

# Parse-tree nodes that are expressions or clauses of a read-only query. Anything else is refused by
# its kind, so a construct this list does not know cannot slip through.
_SAFE_NODE_NAMES = """
    RawStmt SelectStmt ResTarget ColumnRef A_Star String Integer Float Boolean BitString A_Const
    A_Expr BoolExpr FuncCall TypeCast TypeName SubLink CaseExpr CaseWhen CoalesceExpr MinMaxExpr
    NullTest BooleanTest RowExpr A_ArrayExpr A_Indirection A_Indices CollateClause SQLValueFunction
    SortBy WindowDef RangeVar RangeSubselect RangeFunction RangeTableSample JoinExpr Alias WithClause
    CommonTableExpr CTESearchClause CTECycleClause GroupingSet GroupingFunc ColumnDef
    XmlExpr XmlSerialize RangeTableFunc RangeTableFuncCol
    JsonTable JsonTableColumn JsonTablePathSpec JsonValueExpr JsonFormat JsonFuncExpr JsonIsPredicate
    JsonKeyValue JsonObjectConstructor JsonArrayConstructor JsonArrayQueryConstructor
    JsonAggConstructor JsonObjectAgg JsonArrayAgg JsonScalarExpr JsonSerializeExpr JsonParseExpr
    JsonOutput JsonReturning JsonBehavior JsonArgument
"""
_SAFE_NODES = frozenset(_SAFE_NODE_NAMES.split())
_NODE_NAMES = {
    "ParamRef": "parameters ($1) are not allowed: write the values into the query",
    "IntoClause": "SELECT INTO is not allowed: it creates a table",
    "LockingClause": "locking clauses (FOR UPDATE, FOR NO KEY UPDATE, FOR SHARE, FOR KEY SHARE) are not "
    "allowed: a check only reads",
    "MergeSupportFunc": "merge_action() belongs to MERGE, which is not allowed",
}
_TOO_DEEP = "the query is nested too deeply"
_TABLESAMPLE_METHODS = frozenset({"bernoulli", "system"})
# Operators the server looks up by name for constructs that do not spell them (IN, LIKE, NULLIF, IS
# DISTINCT FROM and SIMILAR TO carry theirs in the parse tree): they join the names checked on the target.
_BETWEEN_OPERATORS = frozenset({"<", ">", "<=", ">="})
_EQUALITY = frozenset({"="})


@dataclass(frozen=True)
class Inspected:
    """A check that passed the guard.

    sql: the text as the user wrote it up to the end of the statement (comments kept), without
    surrounding blanks, the final ';' or anything after it. functions: the unqualified function names
    it calls; attributes: the names it uses after a '.', which the server may also read as a call
    (t.f is f(t)); operators: the unqualified operator names; types: the type names outside pg_catalog
    it names, as name or schema.name. engine.run_invariant looks these up on
    the target, in the search_path it sets, to refuse any that a function outside pg_catalog shadows.
    """

    sql: str
    functions: frozenset[str]
    attributes: frozenset[str]
    operators: frozenset[str]
    types: frozenset[str] = frozenset()


def _names(items) -> list[str]:
    return [item.sval for item in items or () if isinstance(item, ast.String)]


def _shown(names: list[str]) -> str:
    text = ".".join(names)
    return text if len(text) <= _MAX_NAME_SHOWN else text[: _MAX_NAME_SHOWN - 1] + "…"


class _Walker(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.functions: set[str] = set()
        self.attributes: set[str] = set()
        self.operators: set[str] = set()
        self.types: set[str] = set()

    def visit(self, ancestors, node):
        kind = type(node).__name__
        if kind in _NODE_NAMES:
            raise ValueError(_NODE_NAMES[kind])
        if kind not in _SAFE_NODES:
            raise ValueError(f"{_describe(node)} is not allowed: a check is one SELECT that only reads")
        if isinstance(node, ast.SelectStmt):
            if node.intoClause is not None:
                raise ValueError(_NODE_NAMES["IntoClause"])
            if node.lockingClause:
                raise ValueError(_NODE_NAMES["LockingClause"])
        elif isinstance(node, ast.CommonTableExpr) and not isinstance(node.ctequery, ast.SelectStmt):
            raise ValueError(
                f"{_describe(node.ctequery)} in the WITH query {node.ctename!r} is not allowed: every WITH "
                "query must be a SELECT"
            )
        elif isinstance(node, ast.FuncCall):
            self._function(_names(node.funcname))
        elif isinstance(node, ast.A_Expr):
            names = _names(node.name)
            if "BETWEEN" in " ".join(names):
                self.operators.update(_BETWEEN_OPERATORS)
            else:
                self._operator(names)
        elif _compares_for_equality(node):
            self.operators.update(_EQUALITY)
        elif isinstance(node, ast.SubLink) and node.operName:
            self._operator(_names(node.operName))
        elif isinstance(node, ast.SortBy) and node.useOp:
            self._operator(_names(node.useOp))
        elif isinstance(node, ast.TypeName):
            names = _names(node.names)
            if names and names[:-1] != ["pg_catalog"]:
                self.types.add(".".join(names[-2:]))
        elif isinstance(node, ast.ColumnRef):
            self.attributes.update(_names(node.fields)[1:])
        elif isinstance(node, ast.A_Indirection):
            self.attributes.update(_names(node.indirection))
        elif isinstance(node, ast.RangeTableSample):
            method = _names(node.method)
            if len(method) != 1 or method[0] not in _TABLESAMPLE_METHODS:
                raise ValueError(
                    f"TABLESAMPLE {_shown(method)} is not allowed: use TABLESAMPLE BERNOULLI or SYSTEM"
                )
        return None

    def _function(self, names: list[str]) -> None:
        name = names[-1] if names else ""
        shown = _shown(names)
        if len(names) > 1 and names[:-1] != ["pg_catalog"]:
            raise ValueError(
                f"function {shown}() is not allowed: only built-in functions (schema pg_catalog) may be "
                f"called; {_ALLOWED_HELP}"
            )
        if name not in ALLOWED_FUNCTIONS:
            reason = _REASON_BY_NAME.get(name) or next(
                (why for prefix, why in _REASON_BY_PREFIX if name.startswith(prefix)), ""
            )
            because = f" (it {reason})" if reason else ""
            raise ValueError(f"function {shown}() is not allowed{because}: {_ALLOWED_HELP}")
        if len(names) == 1:
            self.functions.add(name)

    def _operator(self, names: list[str]) -> None:
        if len(names) > 1:
            if names[:-1] != ["pg_catalog"]:
                raise ValueError(
                    f"operator OPERATOR({_shown(names)}) is not allowed: only built-in operators "
                    "(schema pg_catalog) may be used"
                )
        elif names:
            self.operators.add(names[0])


def _compares_for_equality(node) -> bool:
    """CASE x WHEN v (x = v), JOIN ... USING and NATURAL JOIN (a.c = b.c): an '=' the text does not spell."""
    if isinstance(node, ast.CaseExpr):
        return node.arg is not None
    return isinstance(node, ast.JoinExpr) and bool(node.usingClause or node.isNatural)


def _describe(node) -> str:
    if isinstance(node, ast.Node):
        name = type(node).__name__
        return _STATEMENTS.get(name, name.removesuffix("Stmt").upper() if name.endswith("Stmt") else name)
    return "statement"


_STATEMENTS = {
    "InsertStmt": "INSERT",
    "UpdateStmt": "UPDATE",
    "DeleteStmt": "DELETE",
    "MergeStmt": "MERGE",
    "CopyStmt": "COPY",
    "CallStmt": "CALL",
    "DoStmt": "DO block",
    "ExplainStmt": "EXPLAIN",
    "VariableSetStmt": "SET",
    "VariableShowStmt": "SHOW",
    "TransactionStmt": "transaction command",
    "LockStmt": "LOCK",
    "DeclareCursorStmt": "DECLARE CURSOR",
    "CreateTableAsStmt": "CREATE TABLE AS",
    "PrepareStmt": "PREPARE",
    "ExecuteStmt": "EXECUTE",
}


def _statement_text(sql: str, raw: ast.RawStmt) -> str:
    """The text up to the end of the statement: comments before it kept (they often say what the check
    is for), the ';' and whatever follows it (blanks, comments, empty statements) dropped."""
    end = (raw.stmt_location or 0) + raw.stmt_len if raw.stmt_len else len(sql)
    return sql[:end].strip()


def _refuse_backslash_quotes(sql: str) -> None:
    """Refuse a '...' string in which a quote follows an odd run of backslashes.

    With standard_conforming_strings on (the guard, and the engine at run time) 'x\\' is the text x\\;
    with it off, \\' is an escaped quote and the string goes on: the same text is then other SQL. The
    engine turns the setting on, so this is a second wall, and a clear message for an honest mistake.
    """
    for token in scan(sql):
        raw = sql[token.start : token.end + 1]
        if token.name != "SCONST" or not raw.startswith("'"):
            continue  # E'...', $$...$$, U&'...': read the same either way
        for i in range(1, len(raw)):
            if raw[i] != "'":
                continue
            run = len(raw[:i]) - len(raw[:i].rstrip("\\"))
            if run % 2:
                shown = raw if len(raw) <= 30 else raw[:29] + "…"
                raise ValueError(
                    f"the string {shown} has a backslash before a quote, which PostgreSQL reads differently "
                    "when standard_conforming_strings is off; write it as E'...' with \\\\ for a backslash"
                )


def inspect_invariant_sql(sql: str) -> Inspected:
    """The check's statement and the names to look up on the target, if the guard lets it pass.

    Raises ValueError with a message for the person who wrote it otherwise.
    """
    if not isinstance(sql, str):
        raise ValueError("the check must be SQL text")
    if len(sql) > MAX_INVARIANT_CHARS:
        raise ValueError(f"the query is longer than {MAX_INVARIANT_CHARS} characters")
    if "\x00" in sql:
        raise ValueError("the query contains a NUL character")
    try:
        statements = parse_sql(sql)
    except ParseError as exc:
        message, location = (list(exc.args) + [None, None])[:2]
        where = f" (at character {location + 1})" if isinstance(location, int) else ""
        raise ValueError(f"PostgreSQL cannot parse it: {message}{where}") from None
    except RecursionError:  # pragma: no cover - the length limit keeps the tree shallow enough
        raise ValueError(_TOO_DEEP) from None
    if not statements:
        raise ValueError("the query is empty")
    _refuse_backslash_quotes(sql)
    if len(statements) > 1:
        raise ValueError("only one statement is allowed (a ';' separates statements)")
    raw = statements[0]
    if not isinstance(raw.stmt, ast.SelectStmt):
        raise ValueError(f"only a SELECT or WITH … SELECT query is allowed, not {_describe(raw.stmt)}")
    walker = _Walker()
    try:
        walker(raw)
    except RecursionError:  # pragma: no cover - as above
        raise ValueError(_TOO_DEEP) from None
    text = _statement_text(sql, raw)
    if not text:  # pragma: no cover - a parsed SELECT has text
        raise ValueError("the query is empty")
    return Inspected(
        sql=text,
        functions=frozenset(walker.functions),
        attributes=frozenset(walker.attributes),
        operators=frozenset(walker.operators),
        types=frozenset(walker.types),
    )


def validate_invariant_sql(sql: str) -> str:
    """The check as the user wrote it, without surrounding blanks or a final ';', if it is one read-only
    SELECT (see the module docstring); raises ValueError saying why not otherwise."""
    return inspect_invariant_sql(sql).sql


def wrap_invariant_sql(sql: str, row_cap: int) -> Inspected:
    """The query the engine sends for a check: its rows, at most row_cap + 1 of them.

    The check is validated first, and the wrapped text again: it must still parse as one SELECT whose
    only FROM item is the check, so no text can close the parenthesis and escape the wrapper.
    """
    checked = inspect_invariant_sql(sql)
    wrapped = f"select * from (\n{checked.sql}\n) as invariant limit {int(row_cap) + 1}"
    again = inspect_invariant_sql(wrapped)
    (raw,) = parse_sql(wrapped)
    stmt = raw.stmt
    from_items = stmt.fromClause or ()
    if not (
        len(from_items) == 1
        and isinstance(from_items[0], ast.RangeSubselect)
        and from_items[0].alias is not None
        and from_items[0].alias.aliasname == "invariant"
        and stmt.whereClause is None
        and not stmt.withClause
        and stmt.op == SetOperation.SETOP_NONE
    ):
        raise ValueError("the query does not stand on its own inside parentheses")
    return again
