"""Authentication and transport probes (seed §14): password hashing, pg_hba.conf methods, SSL."""

from __future__ import annotations

from typing import Any

from ..registry import Probe, Status, Verdict, register
from .verdicts import fail, num, verdict, warn


def _password_encryption(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    value = rows[0]["password_encryption"] if rows else ""
    if value == "scram-sha-256":
        return Verdict(Status.PASS, "new passwords are hashed with scram-sha-256")
    return verdict(
        [
            fail(
                "setting password_encryption",
                f"password_encryption = {value}: new passwords are stored as MD5, "
                "which is deprecated and replayable from the hash",
            )
        ],
        ok="",
        found=f"password_encryption = {value}",
    )


register(
    Probe(
        id="security.password-encryption",
        category="security",
        severity="P2",
        title="Password hashing method",
        checks="The password_encryption in force for this database. MD5 hashes are deprecated: a stolen "
        "hash is enough to log in, and they are removed in future PostgreSQL versions.",
        fix="ALTER SYSTEM SET password_encryption = 'scram-sha-256'; SELECT pg_reload_conf(); -- then reset "
        "each role's password so it is stored as SCRAM, and use scram-sha-256 in pg_hba.conf",
        sql="select current_setting('password_encryption') as password_encryption",
        evaluate=_password_encryption,
        seed="14.1",
    )
)

_LOOPBACK = {"127.0.0.1", "::1", "localhost", "samehost"}


def _hba(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    items = []
    for r in rows:
        obj = f"pg_hba.conf line {r['line_number']}"
        databases, users = ",".join(r["database"] or []), ",".join(r["user_name"] or [])
        where = f"{r['type']} {databases} {users} {r['address'] or ''}"
        local = r["type"] == "local" or (r["address"] or "") in _LOOPBACK
        method = r["auth_method"]
        if r.get("error"):
            items.append(warn(obj, f"does not parse: {r['error']}"))
        elif method == "trust":
            make = warn if local else fail
            items.append(
                make(
                    obj,
                    f"trust ({where.strip()}): anyone who reaches it logs in as any role, "
                    "no password" + (" (local connections only)" if local else ""),
                )
            )
        elif method == "password":
            items.append(
                fail(obj, f"password ({where.strip()}): the password crosses the network in cleartext")
            )
        elif method == "md5":
            items.append(warn(obj, f"md5 ({where.strip()}): use scram-sha-256"))
    return verdict(
        items, ok="every pg_hba.conf rule uses a strong method", found="{n} weak pg_hba.conf rule(s)"
    )


register(
    Probe(
        id="security.hba-auth-methods",
        category="security",
        severity="P1",
        title="Authentication methods in pg_hba.conf",
        checks="The rules of pg_hba.conf (pg_hba_file_rules): trust from non-local addresses (FAIL) or "
        "locally (WARN), cleartext password (FAIL), md5 (WARN). Readable only by superusers unless granted.",
        fix="Use scram-sha-256 (or cert) in pg_hba.conf for every host rule, hostssl for remote ones, then "
        "SELECT pg_reload_conf();",
        sql="""
select line_number, type, database, user_name, address, netmask, auth_method, error
from pg_hba_file_rules
order by line_number
""",
        evaluate=_hba,
        seed="14.1",
        grant="GRANT SELECT ON pg_hba_file_rules TO {role}; GRANT EXECUTE ON FUNCTION pg_hba_file_rules() TO "
        "{role};",
    )
)


def _ssl(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    r = rows[0]
    if r["ssl"] != "on":
        return verdict(
            [
                fail(
                    "setting ssl",
                    "ssl = off: passwords (unless SCRAM) and all data cross the network in cleartext",
                )
            ],
            ok="",
            found="SSL is off on the server",
        )
    items = []
    cleartext = int(num(r["cleartext_remote_sessions"]))
    if cleartext:
        items.append(
            warn(
                "sessions",
                f"{cleartext} session(s) from remote hosts are not encrypted: require hostssl in pg_hba.conf",
                sessions=cleartext,
            )
        )
    if r["min_protocol"] in ("TLSv1", "TLSv1.1"):
        items.append(
            warn("setting ssl_min_protocol_version", f"{r['min_protocol']} is allowed: require TLSv1.2")
        )
    return verdict(
        items, ok="SSL is on and remote sessions use it", found="SSL is on but not required everywhere"
    )


register(
    Probe(
        id="security.ssl",
        category="security",
        severity="P1",
        title="SSL for client connections",
        checks="Whether the server offers SSL, the oldest TLS version it accepts, and whether sessions "
        "from remote hosts to this database actually use it.",
        fix="Install a certificate, ALTER SYSTEM SET ssl = on; SELECT pg_reload_conf(); and use hostssl "
        "rules in pg_hba.conf so cleartext connections are refused.",
        sql="""
select current_setting('ssl') as ssl, current_setting('ssl_min_protocol_version') as min_protocol,
       (select count(*) from pg_stat_ssl s join pg_stat_activity a on a.pid = s.pid
        where a.backend_type = 'client backend' and a.datname = current_database() and not s.ssl
          and a.client_addr is not null and host(a.client_addr) not in ('127.0.0.1', '::1'))
         as cleartext_remote_sessions
""",
        evaluate=_ssl,
        seed="14.1",
    )
)
