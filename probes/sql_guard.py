"""The guard on user-written invariant checks (seed §6.1, §11.4): a single read-only SELECT or WITH
query, or a clear refusal. A small lexer that knows quotes, dollar quotes and comments; pure, no
database."""

from __future__ import annotations

import re

_DATA_CHANGING = {"insert", "update", "delete", "merge", "into", "truncate", "copy"}
_LOCKING_AFTER_FOR = {"update", "share", "no", "key"}
# Functions with side effects that a read-only transaction does not stop (or that run SQL given as text).
_UNSAFE_FUNCTION_NAMES = """
    pg_terminate_backend pg_cancel_backend pg_reload_conf pg_rotate_logfile pg_switch_wal
    pg_create_restore_point pg_promote set_config nextval setval txid_current pg_current_xact_id
    pg_notify pg_logical_emit_message pg_export_snapshot query_to_xml pg_stat_statements_reset
    pg_wal_replay_pause pg_wal_replay_resume pg_log_backend_memory_contexts
"""
_UNSAFE_PREFIX_NAMES = """
    pg_advisory pg_try_advisory dblink lo_ pg_stat_reset pg_create_ pg_drop_ pg_replication_ pg_file_
    pg_read_ pg_ls_ pg_stat_file pg_import_ pg_backup_
"""
_UNSAFE_FUNCTIONS = frozenset(_UNSAFE_FUNCTION_NAMES.split())
_UNSAFE_PREFIXES = tuple(_UNSAFE_PREFIX_NAMES.split())
_MAX_INVARIANT_CHARS = 20_000
_DOLLAR = re.compile(r"\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$")
_WORD = re.compile(r"[A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_$\u0080-\U0010ffff]*")


def _lex(sql: str) -> tuple[list[tuple[str, str, int]], str]:
    """Tokens (kind, text, offset in the stripped text) and the text with comments replaced by a space.

    Kinds: word, string, ident (double-quoted), number, semicolon, paren, op. Respects '' and E''
    strings, $tag$ dollar quotes, "quoted identifiers" and nested /* */ comments; raises ValueError
    for anything unterminated, a $1 parameter or a psql backslash command.
    """
    out: list[str] = []
    tokens: list[tuple[str, str, int]] = []
    pos = 0  # length of the stripped text so far
    i, n = 0, len(sql)

    def emit(kind: str, text: str, value: str | None = None) -> None:
        nonlocal pos
        if kind:
            tokens.append((kind, text if value is None else value, pos))
        out.append(text)
        pos += len(text)

    while i < n:
        ch = sql[i]
        if ch.isspace():
            emit("", ch)
            i += 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end
            emit("", " ")
        elif sql.startswith("/*", i):
            depth, j = 1, i + 2
            while depth and j < n:
                if sql.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif sql.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            if depth:
                raise ValueError("unterminated /* comment")
            i = j
            emit("", " ")
        elif ch in "eE" and i + 1 < n and sql[i + 1] == "'":
            j = i + 2
            while j < n:
                if sql[j] == "\\":
                    j += 2
                elif sql[j] == "'":
                    if j + 1 < n and sql[j + 1] == "'":
                        j += 2
                    else:
                        break
                else:
                    j += 1
            if j >= n:
                raise ValueError("unterminated string literal")
            emit("string", sql[i : j + 1])
            i = j + 1
        elif ch == "'":
            j = i + 1
            while True:
                j = sql.find("'", j)
                if j < 0:
                    raise ValueError("unterminated string literal")
                if j + 1 < n and sql[j + 1] == "'":
                    j += 2
                    continue
                break
            emit("string", sql[i : j + 1])
            i = j + 1
        elif ch == '"':
            j = i + 1
            while True:
                j = sql.find('"', j)
                if j < 0:
                    raise ValueError("unterminated quoted identifier")
                if j + 1 < n and sql[j + 1] == '"':
                    j += 2
                    continue
                break
            emit("ident", sql[i : j + 1], sql[i + 1 : j].replace('""', '"'))
            i = j + 1
        elif ch == "$":
            m = _DOLLAR.match(sql, i)
            if m:
                tag = m.group(0)
                end = sql.find(tag, m.end())
                if end < 0:
                    raise ValueError(f"unterminated dollar-quoted string {tag}")
                emit("string", sql[i : end + len(tag)])
                i = end + len(tag)
            elif i + 1 < n and "0" <= sql[i + 1] <= "9":
                raise ValueError("parameters ($1) are not allowed: write the values into the query")
            else:
                emit("op", ch)
                i += 1
        elif ch == "\\":
            raise ValueError("psql backslash commands are not SQL")
        elif "0" <= ch <= "9":
            m = re.compile(r"\d+(\.\d*)?([eE][+-]?\d+)?").match(sql, i)
            emit("number", m.group(0))
            i = m.end()
        elif _WORD.match(sql, i):
            m = _WORD.match(sql, i)
            emit("word", m.group(0))
            i = m.end()
        elif ch == ";":
            emit("semicolon", ch)
            i += 1
        elif ch in "()":
            emit("paren", ch)
            i += 1
        else:
            emit("op", ch)
            i += 1
    return tokens, "".join(out)


def validate_invariant_sql(sql: str) -> str:
    """The query, comments stripped and without a trailing ';', if it is one read-only SELECT or WITH query.

    Raises ValueError saying why otherwise. This is a guard for honest mistakes; the real protection is
    the read-only transaction the check runs in and a probe role without write privileges.
    """
    if not isinstance(sql, str):
        raise ValueError("the check must be SQL text")
    if len(sql) > _MAX_INVARIANT_CHARS:
        raise ValueError(f"the query is longer than {_MAX_INVARIANT_CHARS} characters")
    if "\x00" in sql:
        raise ValueError("the query contains a NUL character")
    tokens, text = _lex(sql)
    if not tokens:
        raise ValueError("the query is empty")
    semis = [t for t in tokens if t[0] == "semicolon"]
    if semis:
        if len(semis) > 1 or tokens[-1] is not semis[0]:
            raise ValueError("only one statement is allowed (a ';' separates statements)")
        text = text[: semis[0][2]]
        tokens = tokens[:-1]
        if not tokens:
            raise ValueError("the query is empty")
    first = next((t for t in tokens if t[0] != "paren" or t[1] != "("), None)
    if first is None or first[0] != "word" or first[1].lower() not in ("select", "with"):
        shown = first[1] if first else "("
        raise ValueError(f"only a SELECT or WITH query is allowed, not {shown[:30]!r}")
    words = [(k, t.lower()) for k, t, _ in tokens]
    for index, (kind, word) in enumerate(words):
        nxt = words[index + 1] if index + 1 < len(words) else ("", "")
        if kind == "word" and word in _DATA_CHANGING:
            raise ValueError(f"{word.upper()} is not allowed: the check must only read")
        if kind == "word" and word == "for" and nxt[0] == "word" and nxt[1] in _LOCKING_AFTER_FOR:
            raise ValueError("locking clauses (FOR UPDATE / FOR SHARE) are not allowed")
        is_call = kind in ("word", "ident") and nxt == ("paren", "(")
        if is_call and (word in _UNSAFE_FUNCTIONS or word.startswith(_UNSAFE_PREFIXES)):
            raise ValueError(f"function {word}() is not allowed in a check")
    return text.strip()
