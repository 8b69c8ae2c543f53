"""Runs probes against a target PostgreSQL safely: one connection, each probe in a read-only transaction.

Safety on production (DESIGN.md "Probes"): connect_timeout; application_name `readiness-probe`;
default_transaction_read_only=on as a startup option; every probe in BEGIN READ ONLY with statement_timeout
and lock_timeout set by SET LOCAL (so they cannot leak into a pooled session, and the session's reset
values still show the server and database defaults that the timeout probes evaluate); a ROLLBACK at the
end; only SELECTs, so no lock beyond ACCESS SHARE. A missing extension or privilege gives SKIPPED with the
statement that fixes it; a timeout or any other error gives ERROR for that probe only.

No Django model is imported here: the engine is used by Celery tasks, the `probe` command and the tests.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import ipaddress
import math
import os
import re
import socket
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from time import perf_counter
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import errors
from psycopg.rows import dict_row

from .registry import Item, Probe, Result, Status, all_probes
from .sql_guard import Inspected, wrap_invariant_sql
from .sql_guard import validate_invariant_sql as validate_invariant_sql  # for the services

APPLICATION_NAME = "readiness-probe"
DEFAULT_ROW_CAP = 200
EXTENSION_FIXES = {
    "pg_stat_statements": "CREATE EXTENSION pg_stat_statements; -- and add pg_stat_statements to "
    "shared_preload_libraries (ALTER SYSTEM SET shared_preload_libraries = '...,pg_stat_statements'; "
    "restart)",
}
_PRELOAD_FIX = (
    "ALTER SYSTEM SET shared_preload_libraries = '...,{ext}'; -- keep those already listed; restart"
)


class ProbeConnectionError(Exception):
    """The target cannot be reached or refuses the login. The message shows user@host:port/dbname at most."""


# --- settings ---------------------------------------------------------------------------------------------


def _default(name: str, fallback: int) -> int:
    """A default from Django settings when Django is configured, else the fallback (runs without Django)."""
    try:
        from django.conf import settings
        from django.core.exceptions import ImproperlyConfigured
    except ImportError:  # pragma: no cover - Django is a dependency of the project
        return fallback
    try:
        return int(getattr(settings, name, fallback))
    except ImproperlyConfigured:
        return fallback


def _timeouts(statement_timeout_ms, lock_timeout_ms, connect_timeout_s) -> tuple[int, int, int]:
    return (
        int(
            statement_timeout_ms
            if statement_timeout_ms is not None
            else _default("PROBE_STATEMENT_TIMEOUT_MS", 5000)
        ),
        int(lock_timeout_ms if lock_timeout_ms is not None else _default("PROBE_LOCK_TIMEOUT_MS", 1000)),
        int(connect_timeout_s if connect_timeout_s is not None else _default("PROBE_CONNECT_TIMEOUT_S", 5)),
    )


# --- connection parameters and secrets ----------------------------------------------------------------------
#
# A probe connection uses only what the target holds (DESIGN.md "Threat model"): the parameters are
# built here, explicitly, from an allow-list; nothing of the worker (PG* variables, ~/.pgpass, service
# files, client certificates under ~/.postgresql) is used. PG* variables are removed from the process
# environment at start (readiness/settings.py), and every file parameter libpq would otherwise look up
# in the worker's home points at a path that does not exist.

# What a target may say about its connection. Anything else (options, service, passfile, hostaddr,
# sslpassword, target_session_attrs, ...) is refused with its name.
ALLOWED_KEYS = (
    "host",
    "port",
    "dbname",
    "user",
    "password",
    "sslmode",
    "sslcert",
    "sslkey",
    "sslrootcert",
    "sslcrl",
    "sslcrldir",
    "connect_timeout",
)
SSL_FILE_KEYS = ("sslcert", "sslkey", "sslrootcert", "sslcrl", "sslcrldir")
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
NO_FILE = "/nonexistent/readiness-probe/no-such-file"
ROLE_SETUP_SQL = (
    "CREATE ROLE readiness_probe LOGIN PASSWORD '<a long random password>';\n"
    "GRANT pg_monitor TO readiness_probe;\n"
    "GRANT pg_read_all_data TO readiness_probe;  -- for invariant checks; or, per schema:\n"
    "-- GRANT USAGE ON SCHEMA app TO readiness_probe;\n"
    "-- GRANT SELECT ON ALL TABLES IN SCHEMA app TO readiness_probe;"
)


class ProbeRefused(ProbeConnectionError):
    """The target may not be probed as configured: a host an admin did not allow, a parameter outside
    the allow-list, or a role with more power than reading. Nothing was run on the target."""

    def __init__(self, message: str, *, headline: str, hint: str = "") -> None:
        super().__init__(message)
        self.headline = headline
        self.hint = hint


def _setting(name: str, fallback: Any) -> Any:
    """A Django setting when Django is configured, else the fallback (the engine runs without Django)."""
    try:
        from django.conf import settings
        from django.core.exceptions import ImproperlyConfigured
    except ImportError:  # pragma: no cover - Django is a dependency of the project
        return fallback
    try:
        return getattr(settings, name, fallback)
    except ImproperlyConfigured:
        return fallback


def connection_params(conninfo: str | Mapping[str, Any]) -> dict[str, str]:
    """The parameters of a DSN (URL or key=value, parsed by libpq's own parser) or a mapping, as strings,
    empty ones dropped. Raises ProbeRefused naming any key outside ALLOWED_KEYS; a message never quotes
    the input (it may hold a password)."""
    if isinstance(conninfo, Mapping):
        given = {str(k): v for k, v in conninfo.items()}
    else:
        try:
            given = psycopg.conninfo.conninfo_to_dict(conninfo or "")
        except psycopg.Error:
            raise ProbeRefused(
                "not a PostgreSQL connection string",
                headline="This is not a PostgreSQL connection string.",
                hint="Use postgresql://user:password@host:5432/dbname or "
                "host=… port=5432 dbname=… user=… password=…",
            ) from None
    params = {k: str(v) for k, v in given.items() if v is not None and str(v) != ""}
    refused = sorted(k for k in params if k not in ALLOWED_KEYS)
    if refused:
        names = ", ".join(refused)
        raise ProbeRefused(
            f"connection parameter(s) not allowed: {names}",
            headline=f"Connection parameter not allowed: {names}.",
            hint="A probe target may set only " + ", ".join(ALLOWED_KEYS) + ".",
        )
    if params.get("sslmode") and params["sslmode"] not in SSL_MODES:
        raise ProbeRefused(
            "unknown sslmode", headline="Unknown sslmode.", hint="Use one of " + ", ".join(SSL_MODES) + "."
        )
    if "," in params.get("host", "") + params.get("port", ""):
        raise ProbeRefused(
            "several hosts given",
            headline="Give one host and one port.",
            hint="Register each server as its own target.",
        )
    for key in ("port", "connect_timeout"):
        if key in params and not params[key].isdigit():
            raise ProbeRefused(f"{key} is not a number", headline=f"The {key} must be a whole number.")
    return params


def describe(conninfo: str | Mapping[str, Any]) -> str:
    """What pages, exports and logs may show of a connection: user@host:port/dbname, never a secret.
    Parsed with libpq's own parser, never a regular expression."""
    try:
        given = conninfo if isinstance(conninfo, Mapping) else psycopg.conninfo.conninfo_to_dict(conninfo)
    except (psycopg.Error, TypeError):
        return "(unreadable connection string)"
    p = {k: str(v) for k, v in given.items() if v is not None and str(v) != ""}
    user = p.get("user", "")
    return f"{user + '@' if user else ''}{p.get('host', '')}:{p.get('port', '5432')}/{p.get('dbname', '')}"


def mask_dsn(dsn: str | Mapping[str, Any]) -> str:
    """The connection as user@host:port/dbname (the password and every other parameter left out)."""
    return describe(dsn)


def _secrets(conninfo: str | Mapping[str, Any] | None) -> list[str]:
    """The password of a connection, as given and URL-encoded, to scrub it from messages."""
    if not conninfo:
        return []
    try:
        given = (
            dict(conninfo) if isinstance(conninfo, Mapping) else psycopg.conninfo.conninfo_to_dict(conninfo)
        )
    except psycopg.Error:
        return []
    found: list[str] = []
    for key in ("password", "sslpassword"):
        value = str(given.get(key) or "")
        if value:
            found += [value, quote(value, safe=""), quote(value)]
    return [s for s in found if s]


def _scrub(message: str, conninfo: str | Mapping[str, Any] | None) -> str:
    for secret in sorted(set(_secrets(conninfo)), key=len, reverse=True):
        message = message.replace(secret, "****")
    if isinstance(conninfo, str) and conninfo:
        message = message.replace(conninfo, "(connection string)")
    return " ".join(line.strip() for line in message.strip().splitlines() if line.strip())


def _quote_ident(name: str) -> str:
    if re.fullmatch(r"[a-z_][a-z0-9_$]*", name):
        return name
    return '"' + name.replace('"', '""') + '"'


# --- JSON-safe rows ----------------------------------------------------------------------------------------


def json_safe(value: Any) -> Any:
    """A value from psycopg as JSON can carry it: numbers stay numbers, times become ISO text or seconds."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            return str(value)
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, uuid.UUID | ipaddress.IPv4Address | ipaddress.IPv6Address):
        return str(value)
    return str(value)


def _json_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: json_safe(v) for k, v in row.items()} for row in rows]


# Quoted strings (E'' with its backslash escapes, B'', X'', U&'' too; one cut short by left(query, n) up
# to its end), dollar-quoted bodies, and numbers that are not part of a name or a $1 placeholder.
_LITERAL = re.compile(
    r"""(?<!\w)[Ee]'(?:[^'\\]|\\.|'')*(?:'|$)"""
    r"""|(?:(?<!\w)(?:[BbXx]|[Uu]&))?'(?:[^']|'')*(?:'|$)"""
    r"""|\$(?P<tag>[A-Za-z_]\w*)?\$(?:.*?\$(?P=tag)?\$|.*$)"""
    r"""|(?<![\w$.])\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w.])""",
    re.S,
)


def mask_literals(sql: Any) -> Any:
    """Statement text with its literal values replaced by ?, as pg_stat_statements normalises it: the
    shape of the query stays readable, the values (an e-mail address, a card number) do not."""
    if not isinstance(sql, str):
        return sql
    return _LITERAL.sub("?", sql)


# --- connections -------------------------------------------------------------------------------------------


# Where a probe may connect: PROBE_ALLOWED_HOSTS lists host names, IP addresses and CIDR ranges, each
# with an optional :port ("db.internal", "10.1.0.0/16:5432", "[2001:db8::1]:5433"). Empty allows nothing.
# A name entry allows what that name resolves to; the special addresses below only an IP/CIDR entry that
# covers them. The address is checked at every connect and pinned with hostaddr (no DNS rebinding).
_ZERO_NET = ipaddress.ip_network("0.0.0.0/8")


@dataclass(frozen=True)
class _Entry:
    name: str | None
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None
    port: int | None

    def allows(
        self, host: str, ip: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int, special: bool
    ) -> bool:
        if self.port is not None and self.port != port:
            return False
        if self.network is not None:
            return ip.version == self.network.version and ip in self.network
        return not special and self.name == host.lower().rstrip(".")


def _parse_entry(raw: str) -> _Entry:
    text, port = raw.strip(), None
    if text.startswith("["):  # [v6]:port or [v6/len]:port
        inside, _, rest = text[1:].partition("]")
        text = inside
        if rest.startswith(":") and rest[1:].isdigit():
            port = int(rest[1:])
    elif text.count(":") == 1:
        text, _, port_text = text.partition(":")
        if not port_text.isdigit():
            raise ValueError(f"PROBE_ALLOWED_HOSTS entry {raw!r}: the port must be a number")
        port = int(port_text)
    try:
        return _Entry(None, ipaddress.ip_network(text, strict=False), port)
    except ValueError:
        pass
    if text.startswith("/") or text.startswith("@"):
        return _Entry(text, None, port)  # a unix socket directory, allowed only by name
    if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?\.?", text):
        raise ValueError(f"PROBE_ALLOWED_HOSTS entry {raw!r} is not a host name, IP address or CIDR range")
    return _Entry(text.lower().rstrip("."), None, port)


def _allowed_entries() -> list[_Entry]:
    return [_parse_entry(e) for e in _setting("PROBE_ALLOWED_HOSTS", []) or [] if str(e).strip()]


def _resolve(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


def _own_database_servers() -> set[tuple[str, int]]:
    """The (address, port) pairs of the app's own database server, resolved now."""
    db = (_setting("DATABASES", {}) or {}).get("default") or {}
    if "postgresql" not in str(db.get("ENGINE", "")):
        return set()
    host, port = str(db.get("HOST") or ""), int(db.get("PORT") or 5432)
    if not host or host.startswith("/"):
        return set()  # a unix socket: refused anyway
    try:
        return {(str(a), port) for a in _resolve(host, port)}
    except (OSError, ValueError):
        return set()


def _special(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int, own: set[tuple[str, int]]) -> str:
    """Why an address needs an explicit IP/CIDR entry, or ""."""
    mapped = getattr(ip, "ipv4_mapped", None)
    if mapped is not None:
        ip = mapped
    if (str(ip), port) in own:
        return "the Readiness database server itself"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_unspecified or ip.is_multicast or ip.is_reserved or (ip.version == 4 and ip in _ZERO_NET):
        return "not a host address"
    return ""


_ASK_ADMIN = (
    "Ask the Readiness administrator to add this host (or its address range) and port to "
    "PROBE_ALLOWED_HOSTS, or use a host already allowed."
)


def check_host(params: Mapping[str, str]) -> tuple[str, str, int]:
    """(host, the checked address to connect to, port) for a target's parameters, or ProbeRefused.
    A unix socket gives an empty address (allowed only when its directory is listed)."""
    host = params.get("host", "")
    port = int(params.get("port") or 5432)
    if not host:
        raise ProbeRefused(
            "no host given",
            headline="Give the host of the database to probe.",
            hint="A target without a host would use the worker's own local socket, which is not allowed.",
        )
    if "," in host or "," in params.get("port", ""):
        raise ProbeRefused(
            "several hosts given",
            headline="Give one host and one port.",
            hint="Register each server as its own target.",
        )
    entries = _allowed_entries()
    where = f"{host}:{port}"
    if host.startswith("/") or host.startswith("@"):
        if any(e.name == host and e.network is None and e.port in (None, port) for e in entries):
            return host, "", port
        raise ProbeRefused(
            f"{where} is a unix socket",
            headline=f"Host {where} refused: a unix socket of the worker's machine.",
            hint=_ASK_ADMIN,
        )
    try:
        addresses = _resolve(host, port)
    except (OSError, UnicodeError, ValueError):
        raise ProbeRefused(
            f"could not translate host name {host}",
            headline="Unknown host: the host name does not resolve.",
            hint="Check the host name, and the workers' DNS.",
        ) from None
    own = _own_database_servers()
    reasons = []
    for ip in addresses:
        special = _special(ip, port, own)
        if any(e.allows(host, ip, port, bool(special)) for e in entries):
            return host, str(ip), port
        reasons.append(f"{ip} ({special})" if special else str(ip))
    raise ProbeRefused(
        f"{where} is not an allowed probe host: " + ", ".join(reasons),
        headline=f"Host {where} is not allowed for probes ({', '.join(reasons)}).",
        hint=_ASK_ADMIN,
    )


def _require_auth() -> str:
    """PROBE_REQUIRE_AUTH for libpq's require_auth (libpq 16+): the client refuses a server that lets the
    probe in without a password (trust) or by the worker's OS user (peer)."""
    value = str(_setting("PROBE_REQUIRE_AUTH", "scram-sha-256,md5,password") or "")
    return value if value and psycopg.pq.version() >= 160000 else ""


def ssl_path(key: str, value: str) -> str:
    if key == "sslrootcert" and value == "system":
        return value
    directory = _setting("PROBE_SSL_DIR", "") or ""
    if directory:
        root = os.path.realpath(directory)
        path = os.path.realpath(os.path.join(root, value))
        if path.startswith(root + os.sep):
            return path
    raise ProbeRefused(
        f"{key} is outside PROBE_SSL_DIR",
        headline=f"The {key} file is not in the directory for probe certificates.",
        hint="Certificate files must be placed in PROBE_SSL_DIR by the Readiness administrator "
        "and named relative to it.",
    )


def libpq_params(conninfo: str | Mapping[str, Any], connect_timeout_s: int) -> dict[str, Any]:
    """Every libpq parameter of a probe connection, explicitly: the target's own (allow-listed, host
    checked and pinned), then the engine's (timeouts, keepalives, read-only, no worker files)."""
    given = connection_params(conninfo)
    host, hostaddr, port = check_host(given)
    # Removed at start (readiness/settings.py) and again here, in case anything set one since: libpq
    # would read PGPASSWORD, PGOPTIONS, PGSERVICE, PGSSLCERT, ... for every parameter left unset.
    for name in [n for n in os.environ if n.startswith("PG")]:
        os.environ.pop(name, None)
    timeout = max(1, connect_timeout_s)
    if given.get("connect_timeout"):
        timeout = max(1, min(timeout, int(given["connect_timeout"])))
    params: dict[str, Any] = {
        "host": host,
        "port": str(port),
        "dbname": given.get("dbname") or given.get("user") or "",
        "user": given.get("user") or "",
        "password": given.get("password") or "",
        "sslmode": given.get("sslmode") or "prefer",
        "passfile": NO_FILE,
        "sslpassword": "",
        "gssencmode": "disable",
        "connect_timeout": str(timeout),
        "application_name": APPLICATION_NAME,
        "options": "-c default_transaction_read_only=on",
        "keepalives": "1",
        "keepalives_idle": str(int(_setting("PROBE_KEEPALIVES_IDLE_S", 10))),
        "keepalives_interval": str(int(_setting("PROBE_KEEPALIVES_INTERVAL_S", 5))),
        "keepalives_count": str(int(_setting("PROBE_KEEPALIVES_COUNT", 3))),
        "tcp_user_timeout": str(int(_setting("PROBE_TCP_USER_TIMEOUT_MS", 30000))),
    }
    if not params["user"]:
        raise ProbeRefused("no user given", headline="Give the user (role) the probes log in as.")
    if hostaddr:
        params["hostaddr"] = hostaddr
    for key in SSL_FILE_KEYS:
        params[key] = ssl_path(key, given[key]) if given.get(key) else NO_FILE
    if given.get("sslcrldir") is None:
        params.pop("sslcrldir")  # libpq opens a directory lazily; an absent one is simply unset
    if require_auth := _require_auth():
        params["require_auth"] = require_auth
    return params


# Who the probe is: refused when it can do more than read (DESIGN.md "Threat model").
_ROLE_SQL = """
select r.rolsuper as superuser,
       array(select g.rolname::text from pg_roles g
             where g.rolname in ('pg_read_server_files', 'pg_write_server_files',
                                 'pg_execute_server_program', 'pg_signal_backend', 'pg_write_all_data')
               and pg_has_role(current_user, g.oid, 'MEMBER')
             order by 1) as powers,
       pg_has_role(current_user, d.datdba, 'MEMBER') as owns_database,
       array(select format('%I.%I', n.nspname, c.relname) from pg_class c
             join pg_namespace n on n.oid = c.relnamespace
             where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema')
               and n.nspname not like 'pg\\_toast%'
               and (pg_has_role(current_user, c.relowner, 'MEMBER')
                    or has_table_privilege(c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')
                    or has_any_column_privilege(c.oid, 'INSERT, UPDATE'))
             order by 1 limit 6) as writable
from pg_roles r, pg_database d
where r.rolname = current_user and d.datname = current_database()
"""


def role_problems(conn: psycopg.Connection) -> list[str]:
    """Why the connected role is too powerful to probe with; empty when it may only read."""
    with conn.cursor(row_factory=dict_row) as cur:
        statement_ms = int(_default("PROBE_STATEMENT_TIMEOUT_MS", 5000))
        cur.execute(f"BEGIN READ ONLY; SET LOCAL statement_timeout = {statement_ms}")
        try:
            row = cur.execute(_ROLE_SQL).fetchone()
        finally:
            if not _lost(conn):
                conn.execute("ROLLBACK")
    if row is None:
        return ["the role it logged in as is not in pg_roles"]
    problems = []
    if row["superuser"]:
        problems.append("it is a superuser")
    else:
        problems += [f"it is a member of {power}" for power in row["powers"]]
        if row["owns_database"]:
            problems.append("it owns the database")
        if row["writable"]:
            more = ", …" if len(row["writable"]) > 5 else ""
            problems.append("it owns or may write tables: " + ", ".join(row["writable"][:5]) + more)
    return problems


def check_role(conn: psycopg.Connection) -> None:
    problems = role_problems(conn)
    if problems:
        role = conn.info.user
        raise ProbeRefused(
            f"role {role} refused: " + "; ".join(problems),
            headline=f"The role {role} may do more than read: " + "; ".join(problems) + ". Nothing was run.",
            hint="Probe with a login role that can only read, e.g.:\n" + ROLE_SETUP_SQL,
        )


def _connect(conninfo: str | Mapping[str, Any], connect_timeout_s: int) -> psycopg.Connection:
    """A probe connection, or ProbeConnectionError (ProbeRefused when the target may not be probed).
    The host is checked and the role verified at every connect, not only at registration."""
    params = libpq_params(conninfo, connect_timeout_s)
    try:
        conn = psycopg.connect(**params, autocommit=True)
    except psycopg.Error as exc:
        raise ProbeConnectionError(
            f"cannot connect to {describe(params)}: {_scrub(str(exc), params)}"
        ) from None
    try:
        check_role(conn)
    except psycopg.Error as exc:
        _close(conn)
        raise ProbeConnectionError(
            f"connected to {describe(params)} but cannot check its role: {_scrub(str(exc), params)}"
        ) from None
    except BaseException:
        _close(conn)
        raise
    return conn


def _lost(conn: psycopg.Connection | None) -> bool:
    return conn is None or conn.closed or conn.broken


def _close(conn: psycopg.Connection | None) -> None:
    if conn is not None and not conn.closed:
        with contextlib.suppress(psycopg.Error):  # closing a broken socket
            conn.close()


# Invariant checks name tables unqualified: pg_catalog first so no function, operator or type outside
# it can take a built-in's place by the same signature; public for the tables; pg_temp last so a temporary
# object never comes before either (the read-only session cannot create one anyway).
INVARIANT_SEARCH_PATH = "pg_catalog, public, pg_temp"


@contextlib.contextmanager
def _read_only(
    conn: psycopg.Connection, statement_ms: int, lock_ms: int, *, search_path: str | None = None
) -> Iterator[psycopg.Cursor]:
    """A cursor in a read-only transaction with the timeouts, rolled back at the end.

    BEGIN READ ONLY, then each SET LOCAL, in that order, sent in one round trip (our own statements,
    nothing of the target's or a user's in them; the probe's SQL goes apart, as one statement).
    standard_conforming_strings is on whatever the target's DSN, role or database says, so a backslash
    in '...' is a character, as the guard (and our probes' SQL) read it.
    idle_in_transaction_session_timeout ends the session on the server if the worker dies between two
    statements.
    """
    local = [
        f"SET LOCAL statement_timeout = {int(statement_ms)}",
        f"SET LOCAL lock_timeout = {int(lock_ms)}",
        f"SET LOCAL idle_in_transaction_session_timeout = {max(30_000, 2 * int(statement_ms))}",
        "SET LOCAL standard_conforming_strings = on",
    ]
    if search_path is not None:
        local.append(f"SET LOCAL search_path = {search_path}")
    with conn.cursor(row_factory=dict_row) as cur:
        try:
            cur.execute("; ".join(["BEGIN READ ONLY", *local]))
            yield cur
        except psycopg.Error:
            raise
        except BaseException:
            # Interrupted mid-statement (the run's soft time limit, a signal): a ROLLBACK would wait on a
            # target that may have stopped answering. Ending the session rolls the transaction back.
            _close(conn)
            raise
        finally:
            if not _lost(conn):
                conn.execute("ROLLBACK")


def _rows(cur: psycopg.Cursor, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The rows of one statement sent with the extended protocol (Parse/Bind/Execute), which the server
    refuses for text holding more than one statement. cursor.execute() would use the simple protocol,
    which runs any number, when there are no parameters; prepare=True always parses it as one statement.
    Not cursor.stream(): when interrupted (the run's soft time limit) it cancels and drains the query
    first, which waits on a target that stopped answering."""
    cur.execute(sql, params, prepare=True)
    return cur.fetchall()


def _select(
    conn: psycopg.Connection, sql: str, params: dict[str, Any] | None, statement_ms: int, lock_ms: int
) -> list[dict[str, Any]]:
    """Run one SELECT in its own read-only transaction with the timeouts, and roll it back."""
    with _read_only(conn, statement_ms, lock_ms) as cur:
        return _rows(cur, sql, params)


_CONTEXT_SQL = """
select current_user::text as role, current_database()::text as database,
       array(select extname::text from pg_extension) as extensions
"""


# --- probes ------------------------------------------------------------------------------------------------


def _select_probes(only: Iterable[str] | None) -> list[Probe]:
    probes = all_probes()
    if only is None:
        return probes
    wanted = [w.strip() for w in only if w and w.strip()]
    known = {p.id for p in probes} | {p.category for p in probes}
    unknown = sorted(set(wanted) - known)
    if unknown:
        raise ValueError(f"unknown probe id(s): {', '.join(unknown)} (see `manage.py probe --list`)")
    return [p for p in probes if p.id in wanted or p.category in wanted]


def effective_params(probe: Probe, params: dict[str, dict] | None = None) -> dict[str, Any]:
    """A probe's parameters: common defaults, its own defaults, then the target's "*" and per-probe ones."""
    from .checks import COMMON_PARAMS

    params = params or {}
    return {**COMMON_PARAMS, **probe.params, **(params.get("*") or {}), **(params.get(probe.id) or {})}


def _result(probe: Probe, status: Status, summary: str, started: float, **kw: Any) -> Result:
    return Result(
        probe_id=probe.id,
        category=probe.category,
        severity=probe.severity,
        status=status,
        summary=summary,
        duration_ms=(perf_counter() - started) * 1000,
        **kw,
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _run_probe(
    conn: psycopg.Connection,
    probe: Probe,
    params: dict[str, Any],
    ctx: dict[str, Any],
    statement_ms: int,
    lock_ms: int,
) -> Result:
    """One probe on an open connection. Raises only when the connection itself was lost."""
    started = perf_counter()
    role = _quote_ident(ctx["role"])
    if probe.requires_extension and probe.requires_extension not in ctx["extensions"]:
        ext = probe.requires_extension
        return _result(
            probe,
            Status.SKIPPED,
            f"extension {ext} is not installed in database {ctx['database']}",
            started,
            fix=EXTENSION_FIXES.get(ext, f"CREATE EXTENSION {ext};"),
        )
    try:
        rows = _json_rows(_select(conn, probe.sql, params, statement_ms, lock_ms))
        for row in rows:
            for column in probe.masked:
                row[column] = mask_literals(row.get(column))
    except errors.InsufficientPrivilege as exc:
        fix = probe.grant.format(role=role) if probe.grant else f"GRANT pg_monitor TO {role};"
        return _result(
            probe, Status.SKIPPED, f"the probe role lacks a privilege: {_first_line(exc)}", started, fix=fix
        )
    except errors.ObjectNotInPrerequisiteState as exc:
        ext = probe.requires_extension or "the extension"
        return _result(
            probe, Status.SKIPPED, f"{_first_line(exc)}", started, fix=_PRELOAD_FIX.format(ext=ext)
        )
    except errors.QueryCanceled as exc:
        if "statement timeout" in str(exc):
            summary = f"cancelled by statement_timeout after {statement_ms} ms; the probe took too long"
        else:
            summary = f"cancelled: {_first_line(exc)}"
        return _result(probe, Status.ERROR, summary, started)
    except errors.LockNotAvailable:
        return _result(
            probe,
            Status.ERROR,
            f"gave up waiting for a lock after lock_timeout {lock_ms} ms (DDL running?)",
            started,
        )
    except psycopg.Error as exc:
        if _lost(conn):
            raise
        return _result(probe, Status.ERROR, f"{type(exc).__name__}: {_first_line(exc)}", started)
    try:
        verdict = probe.evaluate(rows, params)
    except Exception as exc:  # a bug in one evaluation must not stop the others
        return _result(
            probe,
            Status.ERROR,
            f"evaluation failed: {type(exc).__name__}: {exc}",
            started,
            rows=tuple(rows[: params.get("row_cap", DEFAULT_ROW_CAP)]),
        )
    return _result(
        probe,
        verdict.status,
        verdict.summary,
        started,
        items=verdict.items,
        rows=tuple(rows[: int(params.get("row_cap", DEFAULT_ROW_CAP))]),
        fix=verdict.fix.replace("{role}", role) if verdict.fix else "",
    )


def iter_probes(
    conninfo: str,
    *,
    only: Iterable[str] | None = None,
    params: dict[str, dict] | None = None,
    statement_timeout_ms: int | None = None,
    lock_timeout_ms: int | None = None,
    connect_timeout_s: int | None = None,
) -> Iterator[Result]:
    """Run the probes (all, or those in `only`: ids or category codes) and yield one Result each, in
    registry order. Raises ProbeConnectionError when the target cannot be reached at the start, and
    ValueError for an unknown probe id; after that, nothing stops the run: a lost connection is
    re-opened once, and past that each remaining probe gives ERROR.

    `params` maps a probe id, or "*" for every probe, to parameter values over the probe's defaults
    (see effective_params); "row_cap" limits the rows kept as evidence (default 200). Timeouts
    default to the PROBE_* Django settings when Django is configured, else 5000 ms, 1000 ms and 5 s.
    """
    probes = _select_probes(only)
    statement_ms, lock_ms, connect_s = _timeouts(statement_timeout_ms, lock_timeout_ms, connect_timeout_s)
    conn: psycopg.Connection | None = _connect(conninfo, connect_s)
    reconnected = False
    lost_reason = ""

    def reopen() -> tuple[psycopg.Connection | None, dict[str, Any] | None]:
        nonlocal reconnected, lost_reason
        reconnected = True
        try:
            fresh = _connect(conninfo, connect_s)
            return fresh, _select(fresh, _CONTEXT_SQL, None, statement_ms, lock_ms)[0]
        except (ProbeConnectionError, psycopg.Error) as exc:
            lost_reason = _scrub(str(exc), conninfo)
            return None, None

    try:
        try:
            ctx = _select(conn, _CONTEXT_SQL, None, statement_ms, lock_ms)[0]
        except psycopg.Error as exc:
            raise ProbeConnectionError(
                f"connected to {mask_dsn(conninfo)} but cannot query it: {_scrub(str(exc), conninfo)}"
            ) from None
        for probe in probes:
            started = perf_counter()
            if _lost(conn) and not reconnected:
                _close(conn)
                conn, ctx = reopen()
            if _lost(conn):
                yield _result(probe, Status.ERROR, f"connection to the target lost: {lost_reason}", started)
                continue
            p = {**effective_params(probe, params), "probe_role": ctx["role"]}
            try:
                result = _run_probe(conn, probe, p, ctx, statement_ms, lock_ms)
            except psycopg.Error as exc:  # the connection broke under this probe: reopen once and retry it
                lost_reason = _scrub(_first_line(exc), conninfo)
                _close(conn)
                conn, ctx = (None, None) if reconnected else reopen()
                if _lost(conn):
                    yield _result(
                        probe, Status.ERROR, f"connection to the target lost: {lost_reason}", started
                    )
                    continue
                try:
                    result = _run_probe(conn, probe, p, ctx, statement_ms, lock_ms)
                except psycopg.Error as again:
                    lost_reason = _scrub(_first_line(again), conninfo)
                    result = _result(
                        probe, Status.ERROR, f"connection to the target lost: {lost_reason}", started
                    )
            yield result
    finally:
        _close(conn)


def run_probes(conninfo: str, **kwargs: Any) -> list[Result]:
    """All results of iter_probes as a list (same arguments)."""
    return list(iter_probes(conninfo, **kwargs))


_SERVER_INFO_SQL = """
select current_setting('server_version') as server_version,
       current_setting('server_version_num')::int as server_version_num,
       current_user::text as current_user, current_database()::text as database,
       r.rolsuper as is_superuser,
       pg_has_role(current_user, 'pg_monitor', 'MEMBER') as pg_monitor,
       pg_has_role(current_user, 'pg_read_all_stats', 'MEMBER') as pg_read_all_stats,
       pg_has_role(current_user, 'pg_read_all_settings', 'MEMBER') as pg_read_all_settings,
       pg_is_in_recovery() as in_recovery,
       coalesce((select json_agg(json_build_object('name', extname, 'version', extversion) order by extname)
                 from pg_extension), '[]'::json) as extensions
from pg_roles r
where r.rolname = current_user
"""


def server_info(
    conninfo: str,
    *,
    statement_timeout_ms: int | None = None,
    lock_timeout_ms: int | None = None,
    connect_timeout_s: int | None = None,
) -> dict[str, Any]:
    """What the "test connection" action shows: version, the probe role's powers, installed extensions."""
    statement_ms, lock_ms, connect_s = _timeouts(statement_timeout_ms, lock_timeout_ms, connect_timeout_s)
    conn = _connect(conninfo, connect_s)
    try:
        row = _json_rows(_select(conn, _SERVER_INFO_SQL, None, statement_ms, lock_ms))[0]
    except psycopg.Error as exc:
        raise ProbeConnectionError(
            f"connected to {mask_dsn(conninfo)} but cannot query it: {_scrub(str(exc), conninfo)}"
        ) from None
    finally:
        _close(conn)
    return row


# --- invariant checks --------------------------------------------------------------------------------------


def _row_label(row: dict[str, Any]) -> str:
    label = ", ".join(f"{k}={v}" for k, v in list(row.items())[:3])
    return label if len(label) <= 120 else label[:117] + "..."


# What on the target could run code of its own where the check names a built-in or a type:
# - a function (or aggregate) or operator outside pg_catalog, in the search path the check runs with,
#   named like one the check uses unqualified (or like a name after a '.', which can be a call: t.f is
#   f(t)), that could do anything: volatile, or in a language that runs code (SQL, PL/pgSQL...) rather
#   than C. The server could pick it over the built-in the guard allowed;
# - a type the check names (a cast, a column definition list) outside pg_catalog that is a domain with
#   a CHECK constraint (or over another domain), or has an input or cast-to function like the above.
_SHADOW_SQL = """
with on_path as (
    select n.oid, n.nspname from pg_catalog.pg_namespace n
    where n.nspname = any(pg_catalog.current_schemas(false)) and n.nspname <> 'pg_catalog'
), unsafe_proc as (
    select p.oid from pg_catalog.pg_proc p join pg_catalog.pg_language l on l.oid = p.prolang
    where p.provolatile = 'v' or l.lanname not in ('internal', 'c') or p.prokind not in ('f', 'w')
)
select 'function' as kind, p.proname::text as name, s.nspname::text as schema
from pg_catalog.pg_proc p join on_path s on s.oid = p.pronamespace
where p.proname = any(%(functions)s::text[]) and p.oid in (select oid from unsafe_proc)
union all
select 'operator', o.oprname::text, s.nspname::text
from pg_catalog.pg_operator o join on_path s on s.oid = o.oprnamespace
where o.oprname = any(%(operators)s::text[]) and o.oprcode in (select oid from unsafe_proc)
union all
select 'type', t.typname::text, n.nspname::text
from pg_catalog.pg_type t join pg_catalog.pg_namespace n on n.oid = t.typnamespace
where n.nspname <> 'pg_catalog'
  and (n.nspname || '.' || t.typname = any(%(qualified_types)s::text[])
       or (t.typname = any(%(types)s::text[]) and n.oid in (select oid from on_path)
           and not exists (select from pg_catalog.pg_type b  -- pg_catalog comes first in the path
                           where b.typname = t.typname and b.typnamespace = 'pg_catalog'::regnamespace)))
  and (t.typtype = 'd' and (exists (select from pg_catalog.pg_constraint c
                                    where c.contypid = t.oid and c.contype = 'c')
                            or exists (select from pg_catalog.pg_type b
                                       where b.oid = t.typbasetype and b.typtype = 'd'))
       or t.typinput in (select oid from unsafe_proc)
       or exists (select from pg_catalog.pg_cast k
                  where k.casttarget = t.oid and k.castfunc in (select oid from unsafe_proc)))
order by 1, 2, 3
limit 1
"""


def _shadowed(cur: psycopg.Cursor, checked: Inspected) -> str:
    """Why the target's own functions, operators or types make the check unsafe to run, or ''."""
    rows = _rows(
        cur,
        _SHADOW_SQL,
        {
            "functions": sorted(checked.functions | checked.attributes),
            "operators": sorted(checked.operators),
            "types": sorted(t for t in checked.types if "." not in t),
            "qualified_types": sorted(t for t in checked.types if "." in t),
        },
    )
    if not rows:
        return ""
    kind, name, schema = rows[0]["kind"], rows[0]["name"], rows[0]["schema"]
    if kind == "type":
        return (
            f"the type {schema}.{name} on the target runs code of its own when a value becomes one (a "
            "domain CHECK, or an input or cast function that is not built in); a check may not use it"
        )
    if kind == "operator":
        return (
            f"operator {name} also exists in schema {schema} on the target, where it could have side "
            f"effects; write OPERATOR(pg_catalog.{name}) to use the built-in one"
        )
    if name in checked.functions:
        return (
            f"a function {name}() also exists in schema {schema} on the target, where it could have side "
            f"effects; write pg_catalog.{name}() to call the built-in one"
        )
    return (
        f"'.{name}' can call the function {schema}.{name}() on the target, which could have side "
        f"effects; name the column {name} without the table or alias before it"
    )


def run_invariant(
    conninfo: str,
    sql: str,
    *,
    name: str,
    category: str = "data-model",
    severity: str = "P1",
    row_cap: int = 100,
    statement_timeout_ms: int | None = None,
    lock_timeout_ms: int | None = None,
    connect_timeout_s: int | None = None,
) -> Result:
    """Run a user's invariant check (a query returning the rows that break it): no row passes.

    A refused query, a timeout or an SQL error gives an ERROR result; an unreachable target raises
    ProbeConnectionError like iter_probes. The check is validated again here (sql_guard), whatever
    stored it, then sent wrapped in `select * from (...) limit row_cap + 1` with the extended protocol,
    in a read-only transaction with the timeouts, standard_conforming_strings on and
    INVARIANT_SEARCH_PATH; a function or operator it names that the target shadows outside pg_catalog
    refuses it (_shadowed).
    """
    started = perf_counter()
    probe_id = f"invariant:{name}"
    row_cap = max(1, int(row_cap))

    def result(status: Status, summary: str, **kw: Any) -> Result:
        return Result(
            probe_id, category, severity, status, summary, duration_ms=(perf_counter() - started) * 1000, **kw
        )

    try:
        wrapped = wrap_invariant_sql(sql, row_cap)
    except ValueError as exc:
        return result(Status.ERROR, f"refused: {exc}")
    statement_ms, lock_ms, connect_s = _timeouts(statement_timeout_ms, lock_timeout_ms, connect_timeout_s)
    conn = _connect(conninfo, connect_s)
    try:
        with _read_only(conn, statement_ms, lock_ms, search_path=INVARIANT_SEARCH_PATH) as cur:
            shadowed = _shadowed(cur, wrapped)
            if shadowed:
                return result(Status.ERROR, f"refused: {shadowed}")
            rows = _json_rows(_rows(cur, wrapped.sql))
    except errors.QueryCanceled as exc:
        if "statement timeout" in str(exc):
            return result(Status.ERROR, f"cancelled by statement_timeout after {statement_ms} ms")
        return result(Status.ERROR, f"cancelled: {_first_line(exc)}")
    except errors.LockNotAvailable:
        return result(Status.ERROR, f"gave up waiting for a lock after lock_timeout {lock_ms} ms")
    except errors.InsufficientPrivilege as exc:
        return result(Status.ERROR, f"the probe role lacks a privilege: {_first_line(exc)}")
    except psycopg.Error as exc:
        return result(Status.ERROR, f"{type(exc).__name__}: {_first_line(exc)}")
    finally:
        _close(conn)
    if not rows:
        return result(Status.PASS, "no row breaks the invariant")
    shown = rows[:row_cap]
    more = len(rows) > row_cap
    items = tuple(Item(_row_label(r), Status.FAIL, "breaks the invariant", r) for r in shown)
    count = f"more than {row_cap}" if more else str(len(rows))
    return result(Status.FAIL, f"{count} row(s) break the invariant", items=items, rows=tuple(shown))
