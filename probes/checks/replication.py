"""Replication and WAL-archive probes (seed §11.2, §12.2): standby lag, slots retaining WAL, the archiver."""

from __future__ import annotations

from typing import Any

from ..registry import Probe, Status, Verdict, register
from .verdicts import duration, fail, num, size, skipped, verdict, warn


def _lag(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    if not rows:
        return Verdict(Status.PASS, "no standby is connected to this server and it is not a standby itself")
    items = []
    for r in rows:
        name = r["name"] if r["is_standby"] else f"standby {r['name'] or '?'} ({r['client_addr'] or 'local'})"
        lag_s, lag_bytes = num(r["replay_lag_s"]), num(r["replay_lag_bytes"])
        if lag_s >= params["fail_seconds"] or lag_bytes >= params["fail_bytes"]:
            make = fail
        elif (
            lag_s >= params["warn_seconds"]
            or lag_bytes >= params["warn_bytes"]
            or r["state"]
            not in (
                "streaming",
                "recovering",
            )
        ):
            make = warn
        else:
            continue
        items.append(
            make(
                name,
                f"replay lag {duration(lag_s)}, {size(lag_bytes)} behind (state {r['state']})",
                lag_seconds=lag_s,
                lag_bytes=lag_bytes,
            )
        )
    return verdict(
        items,
        ok=f"{len(rows)} standby link(s), each within {duration(params['warn_seconds'])} and "
        f"{size(params['warn_bytes'])}",
        found="{n} standby link(s) lagging",
    )


register(
    Probe(
        id="replication.lag",
        category="replication",
        severity="P1",
        title="Replication lag",
        checks="For each standby streaming from this server, how far behind it replays (time and bytes); on "
        "a standby, the age of the last replayed transaction. Stale replicas serve stale decisions and lose "
        "data on failover.",
        fix="Find the bottleneck (network, standby I/O, long queries on the standby with "
        "hot_standby_feedback); route freshness-critical reads to the primary.",
        sql="""
select application_name as name, client_addr::text as client_addr, state, sync_state,
       case when pg_is_in_recovery() then null else pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) end
         as replay_lag_bytes,
       coalesce(extract(epoch from replay_lag), 0)::float8 as replay_lag_s, false as is_standby
from pg_stat_replication
union all
select 'this server (a standby)', null, 'recovering', null,
       pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()),
       coalesce(extract(epoch from now() - pg_last_xact_replay_timestamp()), 0)::float8, true
where pg_is_in_recovery()
""",
        evaluate=_lag,
        params={
            "warn_seconds": 30,
            "fail_seconds": 300,
            "warn_bytes": 64 * 1024 * 1024,
            "fail_bytes": 1024 * 1024 * 1024,
        },
        seed="12.2",
    )
)


def _slots(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    items = []
    for r in rows:
        retained = num(r["retained_bytes"])
        obj = f"slot {r['slot_name']}"
        if r["wal_status"] == "lost":
            items.append(
                fail(obj, "the WAL it needs is gone: its consumer cannot resume", retained_bytes=retained)
            )
        elif retained >= params["fail_bytes"]:
            state = "active" if r["active"] else "inactive"
            items.append(
                fail(
                    obj,
                    f"{state} {r['slot_type']} slot retains {size(retained)} of WAL",
                    retained_bytes=retained,
                )
            )
        elif not r["active"]:
            items.append(
                warn(
                    obj,
                    f"inactive {r['slot_type']} slot retains {size(retained)} of WAL and grows until its "
                    f"consumer returns (max_slot_wal_keep_size = {r['max_slot_wal_keep_size']})",
                    retained_bytes=retained,
                )
            )
    return verdict(
        items,
        ok=f"{len(rows)} replication slot(s), none idle or retaining much WAL",
        found="{n} replication slot(s) retaining WAL: {first}",
    )


register(
    Probe(
        id="replication.inactive-slots",
        category="replication",
        severity="P1",
        title="Replication slots retaining WAL",
        checks="Physical slots and this database's logical slots that no consumer is reading, or that hold "
        "back a lot of WAL. A forgotten slot fills the disk and stops the primary.",
        fix="SELECT pg_drop_replication_slot('<slot>'); if its consumer is gone for good; set "
        "max_slot_wal_keep_size so a stuck consumer cannot fill the disk.",
        sql="""
select slot_name, slot_type, database, active, wal_status,
       case when pg_is_in_recovery() then pg_wal_lsn_diff(pg_last_wal_receive_lsn(), restart_lsn)
            else pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) end as retained_bytes,
       current_setting('max_slot_wal_keep_size') as max_slot_wal_keep_size
from pg_replication_slots
where database is null or database = current_database()
order by slot_name
""",
        evaluate=_slots,
        params={"fail_bytes": 1024 * 1024 * 1024},
        seed="12.2",
    )
)

_ARCHIVE_OFF_FIX = (
    "ALTER SYSTEM SET archive_mode = on; ALTER SYSTEM SET archive_command = '<copy %p to the archive>'; "
    "-- restart; or stream WAL with pg_receivewal/Barman and record that in the backup evidence"
)


def _wal_archiving(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    r = rows[0]
    command = (r["archive_command"] or "").strip()
    library = (r["archive_library"] or "").strip()
    if r["archive_mode"] == "off":
        return verdict(
            [
                warn(
                    "setting archive_mode",
                    "archive_mode = off: no WAL archive, so no point-in-time recovery "
                    "from one, unless WAL is streamed elsewhere (pg_receivewal, Barman): say which in the "
                    "evidence",
                )
            ],
            ok="",
            found="WAL archiving is off",
        )
    if not command and not library:
        return verdict(
            [fail("setting archive_command", "archive_mode is on but nothing archives: WAL accumulates")],
            ok="",
            found="archive_mode is on with an empty archive_command",
        )
    if command in ("true", "/bin/true", "exit 0", ":"):
        return verdict(
            [fail("setting archive_command", f"archive_command = {command!r} discards every WAL segment")],
            ok="",
            found="archive_command discards WAL",
        )
    return Verdict(Status.PASS, f"WAL archiving is on (archive_mode = {r['archive_mode']})")


register(
    Probe(
        id="backup.wal-archiving",
        category="backup",
        severity="P1",
        title="WAL archiving configured",
        checks="Whether archive_mode is on with a real archive_command or archive_library. Without a WAL "
        "archive, the RPO is the age of the last base backup.",
        fix=_ARCHIVE_OFF_FIX,
        sql="""
select current_setting('archive_mode') as archive_mode, current_setting('archive_command') as archive_command,
       current_setting('archive_library', true) as archive_library, pg_is_in_recovery() as in_recovery
""",
        evaluate=_wal_archiving,
        seed="11.2",
    )
)

_ARCHIVER_SQL = """
select current_setting('archive_mode') as archive_mode, archived_count, last_archived_wal, last_archived_time,
       failed_count, last_failed_wal, last_failed_time, stats_reset,
       extract(epoch from now() - last_archived_time)::float8 as last_archived_age_s
from pg_stat_archiver
"""


def _archiver_failures(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    r = rows[0]
    if r["archive_mode"] == "off":
        return skipped(
            "archive_mode is off: the server archives no WAL, so no archiving can fail", _ARCHIVE_OFF_FIX
        )
    failed = int(num(r["failed_count"]))
    failing_now = failed and (
        not r["last_archived_time"] or (r["last_failed_time"] or "") > r["last_archived_time"]
    )
    if failing_now:
        item = fail(
            "archiver",
            f"archiving is failing: {failed} failures, last on {r['last_failed_wal']} at "
            f"{r['last_failed_time']}; WAL piles up in pg_wal",
            failed_count=failed,
        )
        return verdict([item], ok="", found="the WAL archiver is failing now")
    if failed:
        item = warn(
            "archiver",
            f"{failed} failures since {r['stats_reset'] or 'startup'} (last at "
            f"{r['last_failed_time']}), archiving has succeeded since",
            failed_count=failed,
        )
        return verdict([item], ok="", found="the WAL archiver failed earlier")
    return Verdict(Status.PASS, f"{int(num(r['archived_count']))} WAL segments archived, no failure")


register(
    Probe(
        id="backup.archiver-failures",
        category="backup",
        severity="P1",
        title="WAL archiver failures",
        checks="pg_stat_archiver's failure count and whether the last attempt failed. A failing archiver "
        "means the point-in-time recovery window stopped growing, and pg_wal grows until the disk is full.",
        fix="Read the server log for the archive_command error, fix the destination (credentials, space), "
        "and alert on pg_stat_archiver.failed_count.",
        sql=_ARCHIVER_SQL,
        evaluate=_archiver_failures,
        seed="11.2",
    )
)


def _last_archived_age(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    r = rows[0]
    if r["archive_mode"] == "off":
        return skipped("archive_mode is off: there is no archived WAL to age", _ARCHIVE_OFF_FIX)
    if not r["last_archived_time"]:
        return verdict(
            [warn("archiver", "no WAL segment archived since statistics were reset")],
            ok="",
            found="nothing archived yet",
        )
    age = num(r["last_archived_age_s"])
    if age >= params["fail_seconds"]:
        make = fail
    elif age >= params["warn_seconds"]:
        make = warn
    else:
        return Verdict(Status.PASS, f"last WAL segment {r['last_archived_wal']} archived {duration(age)} ago")
    item = make(
        "archiver",
        f"last WAL segment archived {duration(age)} ago ({r['last_archived_wal']}); on a "
        "quiet server set archive_timeout so the RPO stays bounded",
        seconds=age,
    )
    return verdict([item], ok="", found=f"last archived WAL is {duration(age)} old")


register(
    Probe(
        id="backup.last-archived-age",
        category="backup",
        severity="P1",
        title="Age of the last archived WAL",
        checks="How long ago the last WAL segment reached the archive. That age is the data a restore from "
        "the archive would lose right now: the RPO actually achieved.",
        fix="ALTER SYSTEM SET archive_timeout = '60s'; SELECT pg_reload_conf(); and fix the archiver if it "
        "is failing.",
        sql=_ARCHIVER_SQL,
        evaluate=_last_archived_age,
        params={"warn_seconds": 3600, "fail_seconds": 86400},
        seed="11.2",
    )
)
