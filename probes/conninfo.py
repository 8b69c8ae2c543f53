"""A PostgreSQL server named on a command line (the demo's --probe-target): how to reach it, and the
PROBE_ALLOWED_HOSTS entries that let probes connect to it. Plain functions, no Django: bin/quickstart
calls allowed_hosts() before the app starts."""

from __future__ import annotations

import ipaddress
import re
import socket
import sys

from psycopg import ProgrammingError
from psycopg.conninfo import conninfo_to_dict, make_conninfo

DEFAULT_PORT = 5432
# host[:port][/dbname], host a name, an IPv4 address or a bracketed IPv6 address.
_SHORT = re.compile(
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::(?P<port>\d+))?(?:/(?P<dbname>[^\s/]+))?"
)


def parse(value: str) -> dict[str, str]:
    """The connection parameters of a URI (postgresql://user@host:5432/db), a key=value conninfo
    (host=... port=... dbname=... user=...) or a short host[:port][/dbname] (which connects as postgres to
    the database postgres). Raises ValueError for anything else, and for a server without a host."""
    text = value.strip()
    if text.startswith(("postgres://", "postgresql://")) or "=" in text:
        try:
            params = conninfo_to_dict(text)
        except ProgrammingError as exc:
            raise ValueError(f"not a PostgreSQL connection string: {exc}") from exc
    else:
        match = _SHORT.fullmatch(text)
        if not match:
            raise ValueError(
                "give a URI (postgresql://user@host:5432/dbname), host=... port=... dbname=... user=..., "
                "or host[:port][/dbname]"
            )
        params = {
            "host": match["host"].strip("[]"),
            "port": match["port"] or str(DEFAULT_PORT),
            "dbname": match["dbname"] or "postgres",
            "user": "postgres",
        }
    host = str(params.get("host") or "")
    if not host or any(h.startswith(("/", "@")) for h in host.split(",")):
        raise ValueError("name the server's host and port: probes never connect through a local socket")
    return {k: str(v) for k, v in params.items() if v not in (None, "")}


def conninfo(value: str) -> str:
    """`value` as a libpq connection string."""
    return make_conninfo(**parse(value))


def allowed_hosts(value: str) -> list[str]:
    """PROBE_ALLOWED_HOSTS entries for the server `value` names: its addresses with the port (a loopback
    address is allowed only by an explicit address entry, never by a name)."""
    params = parse(value)
    port = int(params.get("port", str(DEFAULT_PORT)).split(",")[0])
    entries = []
    for host in params["host"].split(","):
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except OSError:
                infos = []
            addresses = [ipaddress.ip_address(i[4][0].split("%", 1)[0]) for i in infos]
        for address in addresses:
            entry = f"[{address}]:{port}" if address.version == 6 else f"{address}:{port}"
            if entry not in entries:
                entries.append(entry)
    return entries


if (
    __name__ == "__main__"
):  # python -m probes.conninfo SERVER: the PROBE_ALLOWED_HOSTS value, for bin/quickstart
    try:
        print(",".join(allowed_hosts(sys.argv[1])))
    except (IndexError, ValueError) as exc:
        sys.exit(f"--probe-target: {exc}")
