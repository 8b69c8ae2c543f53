"""The load scenario: gunicorn under locust at 10, 30 and 50 users; throughput, p50/p95/p99 per request
kind and the error rate (expected version conflicts apart).

Builds readiness_bench_load through the services (teams with a chair, a lead, four members and an
auditor, all with one known password; systems with a decided review whose PDF is rendered and stored,
and a review in the meeting with evidence and scores; a read API token per team), collects the static
files, starts gunicorn with production settings over plain HTTP on 127.0.0.1:8830, runs
bench/load/locustfile.py headless at each user count for a fixed time, then `manage.py check_gate_facts`
when that command exists. Writes bench/results/load.json and load.md. Needs `pip install -e .[bench]`.

    .venv/bin/python bench/load.py                 # 10, 30, 50 users × 60 s, 2 × cores workers
    .venv/bin/python bench/load.py --quick         # 10, 30, 50 users × 15 s, dataset kept if present
    .venv/bin/python bench/load.py --workers 4 --users 30 --run-time 120

The numbers are for one machine and its load average at the time (both are written with them).
"""

import argparse
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH / "load"))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/readiness_bench_load")

from _harness import ensure_database, setup  # noqa: E402
from stats import parse_stats, totals  # noqa: E402

setup("readiness_bench_load", test_client=False)

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

PASSWORD = "load-scenario-pw-7c1e"  # noqa: S105 (a throwaway database)
TEAMS, SYSTEMS, MEMBERS = 4, 3, 4
DATASET = Path(tempfile.gettempdir()) / "readiness-load-dataset.json"
RESULTS = BENCH / "results"
# Request kinds in the order the report shows them (the names the locustfile gives its requests).
KINDS = (
    "review page",
    "meeting step",
    "meeting here",
    "score change",
    "record json",
    "record pdf",
    "gate api",
    "login",
    "login form",
    "logout",
)

PLOTTED = (
    "review page",
    "meeting step",
    "score change",
    "record pdf",
    "gate api",
    "login",
)  # the rest: tables


def build() -> dict:
    """The data, through the services (so every derived row and audit record is as the app writes it)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    from api import services as api_services
    from evidence import services as evidence_services
    from reviews import agenda, records, services
    from reviews.models import Category, ChecklistItem, Membership, Role, Team

    User = get_user_model()  # noqa: N806
    hashed = make_password(PASSWORD)  # hashed once: the hashing cost is what login measures, not setup
    services.enqueue_decision_pdf = lambda decision_id, **kw: None  # rendered below, as the worker does

    def person(username: str, team: Team, role: str):
        user = User.objects.create(username=username, password=hashed, first_name=username.title())
        Membership.objects.create(user=user, team=team, role=role)
        return user

    dataset: dict = {"password": PASSWORD, "last_step": agenda.LAST_STEP, "teams": []}
    for t in range(1, TEAMS + 1):
        team = Team.objects.create(name=f"Load team {t}", slug=f"load-{t}")
        chair = person(f"t{t}-chair", team, Role.ARCHITECT)
        person(f"t{t}-lead", team, Role.LEAD)
        members = [person(f"t{t}-member{m}", team, Role.MEMBER) for m in range(1, MEMBERS + 1)]
        person(f"t{t}-auditor", team, Role.AUDITOR)
        entry = {
            "chair": chair.username,
            "members": [m.username for m in members],
            "auditor": f"t{t}-auditor",
            "systems": [],
            "reviews": [],
            "decisions": [],
        }
        for s in range(1, SYSTEMS + 1):
            system = services.create_system(team=team, name=f"Load {t}.{s}", actor=chair)
            entry["systems"].append(system.slug)
            for scope in ("2026.1", "2026.2"):
                review = services.start_review(
                    system=system,
                    release_scope=f"Release {scope}",
                    actor=chair,
                    schema_changing=True,
                    production_traffic=True,
                )
                categories = list(Category.objects.filter(version=review.catalogue).order_by("number"))
                critical = ChecklistItem.objects.filter(
                    category__version=review.catalogue, critical_level__in=["P0", "P1"]
                )
                for item in critical:
                    services.answer_item(review=review, item=item, answer="yes", actor=chair)
                for i, category in enumerate(categories):
                    for n in range(2):
                        evidence_services.add_link(
                            review=review,
                            category=category,
                            title=f"{category.name}: CI run {n + 1}",
                            url=f"https://ci.example.com/load/{review.pk}/{category.code}/{n}",
                            actor=members[i % MEMBERS],
                        )
                    services.set_score(
                        review=review, category=category, score=2 + i % 2, actor=members[i % MEMBERS]
                    )
                for i, level in enumerate(("P2", "P3", "P3")):
                    services.add_finding(
                        review=review,
                        category=categories[i * 3],
                        title=f"Load finding {i + 1}",
                        level=level,
                        actor=members[i % MEMBERS],
                        owner=members[0] if level == "P2" else None,
                        due_date=timezone.localdate() + timedelta(days=30) if level == "P2" else None,
                    )
                if scope == "2026.1":
                    decision = services.record_decision(
                        review=review, actor=chair, next_review=timezone.localdate() + timedelta(days=90)
                    )
                    records.store_decision_pdf(decision.pk)
                    entry["decisions"].append(decision.pk)
                else:
                    services.move_to_step(review=review, step=1, actor=chair)
                    entry["reviews"].append(review.pk)
        _, entry["token"] = api_services.create_token(
            team=team, actor=chair, name="deploy pipeline", scopes=["read"]
        )
        dataset["teams"].append(entry)
    dataset["codes"] = [c.code for c in categories]
    return dataset


def server_env() -> dict:
    """Production settings over plain HTTP on 127.0.0.1, on the benchmark's database, without a broker."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CELERY_")}
    env.update(
        DJANGO_SETTINGS_MODULE="readiness.settings",
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_COOKIES="0",
        SECURE_SSL_REDIRECT="0",
        SECURE_HSTS_SECONDS="0",
        LOGIN_MAX_FAILURES="1000",  # one address for every simulated person
        MEDIA_ROOT=str(Path(tempfile.gettempdir()) / "readiness-load-media"),
    )
    return env


def start_gunicorn(port: int, workers: int, threads: int, log: Path) -> subprocess.Popen:
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "readiness.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),  # more than 1: gunicorn's gthread workers
        "--no-control-socket",
    ]
    server = subprocess.Popen(  # noqa: S603
        command,
        cwd=ROOT,
        env=server_env(),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: stopped as a whole at the end
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/", timeout=2) as answer:  # noqa: S310
                if answer.status == 200:
                    return server
        except OSError:
            time.sleep(0.5)
        if server.poll() is not None:
            break
    stop(server)
    raise SystemExit(f"gunicorn did not answer /health/ on port {port}; see {log}")


def stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def run_locust(port: int, users: int, run_time: int, prefix: Path) -> dict:
    """One headless run; its statistics per request kind, read from locust's CSV."""
    command = [
        str(Path(sys.executable).with_name("locust")),
        "-f",
        str(BENCH / "load" / "locustfile.py"),
        "--headless",
        "--users",
        str(users),
        "--spawn-rate",
        str(max(users // 5, 2)),
        "--run-time",
        f"{run_time}s",
        "--host",
        f"http://127.0.0.1:{port}",
        "--csv",
        str(prefix),
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--exit-code-on-error",
        "0",
    ]
    env = {**os.environ, "LOAD_DATASET": str(DATASET)}
    started = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)  # noqa: S603
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"locust failed ({done.returncode}):\n{done.stderr[-3000:]}")
    stats = parse_stats(Path(f"{prefix}_stats.csv"), Path(f"{prefix}_failures.csv"))
    return {**stats, "seconds": round(elapsed, 1)}


def check_gate_facts() -> dict:
    """`manage.py check_gate_facts` after the load, when the installation has that command."""
    manage = [sys.executable, str(ROOT / "manage.py")]
    env = server_env()
    listed = subprocess.run([*manage, "help", "--commands"], env=env, capture_output=True, text=True)  # noqa: S603
    if "check_gate_facts" not in listed.stdout.split():
        return {"ran": False, "output": "manage.py has no check_gate_facts command here"}
    done = subprocess.run([*manage, "check_gate_facts"], env=env, capture_output=True, text=True)  # noqa: S603
    output = (done.stdout + done.stderr).strip()
    return {"ran": True, "exit_code": done.returncode, "output": output[-2000:]}


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg = cursor.fetchone()[0].split()[0]
    return (
        f"{os.cpu_count()} CPUs ({cpu}), Linux {platform.release()}, "
        f"Python {platform.python_version()}, PostgreSQL {pg}"
    )


def report(runs: list[dict], *, command: str, workers: int, threads: int, run_time: int, facts: dict) -> dict:
    kinds = [k for k in KINDS if any(k in r["kinds"] for r in runs)]
    series = [{"label": "throughput", "x_label": "users", "y_label": "requests/s", "points": []}]
    series[0]["points"] = [[r["users"], round(r["rps"], 1)] for r in runs]
    for kind in kinds:
        if kind in PLOTTED:
            points = [[r["users"], r["kinds"][kind]["p95"]] for r in runs if kind in r["kinds"]]
            series.append(
                {
                    "label": f"{kind} p95",
                    "x_label": "users",
                    "y_label": "ms",
                    "scale": "log",
                    "points": points,
                }
            )
    ratios = []
    for r in runs:
        ratios.append(
            {
                "name": f"error rate at {r['users']} users (version conflicts apart)",
                "target": "0",
                "value": f"{r['error_rate']:.2%} ({r['failures']} of {r['requests']}; "
                f"{r['conflicts']} conflicts)",
                "met": r["failures"] == 0,
            }
        )
    pool = "sync workers" if threads == 1 else f"gthread workers × {threads} threads"
    first, last = runs[0], runs[-1]
    if len(runs) > 1 and first["rps"]:
        ratios.append(
            {
                "name": f"throughput, {last['users']} users / {first['users']}",
                "target": f"≈ {last['users'] / first['users']:.0f}× while not saturated",
                "value": f"{last['rps'] / first['rps']:.1f}×",
                "met": None,
            }
        )
        for kind in ("review page", "score change", "login"):
            if kind in first["kinds"] and kind in last["kinds"] and first["kinds"][kind]["p95"]:
                grew = last["kinds"][kind]["p95"] / first["kinds"][kind]["p95"]
                ratios.append(
                    {
                        "name": f"{kind} p95, {last['users']} users / {first['users']}",
                        "target": "–",
                        "value": f"{grew:.1f}×",
                        "met": None,
                    }
                )
    if facts.get("ran"):
        ratios.append(
            {
                "name": "check_gate_facts after the load",
                "target": "no difference",
                "value": "none" if facts["exit_code"] == 0 else f"exit {facts['exit_code']}",
                "met": facts["exit_code"] == 0,
            }
        )
    loads = ", ".join(f"{r['users']} users: {r['load_before']:.1f} → {r['load_after']:.1f}" for r in runs)
    return {
        "benchmark": "load",
        "title": "Load: gunicorn under locust",
        "command": command,
        "machine": machine(),
        "date": f"{timezone.now():%Y-%m-%d %H:%M} UTC",
        "load": f"1-minute load average before → after each run: {loads}",
        "series": series,
        "ratios": ratios,
        "runs": runs,
        "gate_facts": facts,
        "workers": workers,
        "threads": threads,
        "run_time": run_time,
        "notes": (
            f"gunicorn {workers} {pool}, "
            f"{run_time} s per user count, locust on the same machine; "
            f"{TEAMS} teams × {SYSTEMS} systems, each with a decided review (stored PDF) and one in the "
            "meeting; no broker (none of these requests enqueues a task)."
        ),
    }


def write_markdown(result: dict, path: Path) -> None:
    runs = result["runs"]
    lines = [
        "# Load scenario",
        "",
        f"Command: `{result['command']}`  ",
        f"Machine: {result['machine']}  ",
        f"Date: {result['date']}; {result['load']}  ",
        result["notes"],
        "",
        "| users | requests/s | requests | errors | version conflicts | error rate |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in runs:
        lines.append(
            f"| {r['users']} | {r['rps']:.1f} | {r['requests']} | {r['failures']} | {r['conflicts']} "
            f"| {r['error_rate']:.2%} |"
        )
    lines += ["", "p50 / p95 / p99 in ms per request kind:", ""]
    lines += ["| kind | " + " | ".join(f"{r['users']} users" for r in runs) + " |"]
    lines += ["| --- |" + " --- |" * len(runs)]
    for kind in KINDS:
        cells = []
        for r in runs:
            k = r["kinds"].get(kind)
            cells.append(f"{k['p50']:.0f} / {k['p95']:.0f} / {k['p99']:.0f} ({k['rps']:.1f}/s)" if k else "–")
        if any(c != "–" for c in cells):
            lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    lines += ["", "| ratio | target | value | met |", "| --- | --- | --- | --- |"]
    for ratio in result["ratios"]:
        met = {True: "yes", False: "**no**", None: "–"}[ratio["met"]]
        lines.append(f"| {ratio['name']} | {ratio['target']} | {ratio['value']} | {met} |")
    errors = [f for r in runs for f in r["failure_list"]]
    if errors:
        lines += ["", "Errors:", ""] + [f"- {e['kind']}: {e['error']} × {e['count']}" for e in errors]
    facts = result["gate_facts"]
    lines += ["", f"check_gate_facts after the load: {facts.get('output') or 'ran'}", ""]
    path.write_text("\n".join(lines))


def rewrite(earlier: Path, out: Path) -> None:
    """The report of an earlier run again, from the runs it kept (when the report's shape changed)."""
    kept = json.loads(earlier.read_text())
    for run in kept["runs"]:
        run.update(totals(run["kinds"]))  # as parse_stats counts them now
    result = report(
        kept["runs"],
        command=kept["command"],
        workers=kept.get("workers", 4),
        threads=kept.get("threads", 1),
        run_time=kept.get("run_time", 60),
        facts=kept["gate_facts"],
    )
    result.update(date=kept["date"], machine=kept["machine"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "load.json").write_text(json.dumps(result, indent=1) + "\n")
    write_markdown(result, out / "load.md")
    print(f"wrote {out / 'load.json'} and {out / 'load.md'} from the runs of {kept['date']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", default="10,30,50", help="user counts, comma-separated")
    parser.add_argument("--run-time", type=int, default=60, help="seconds per user count")
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1), help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=1, help="threads per worker (gthread when > 1)")
    parser.add_argument("--port", type=int, default=8830)
    parser.add_argument("--quick", action="store_true", help="15 s per user count; keep a built dataset")
    parser.add_argument("--rebuild", action="store_true", help="build the data even if it exists")
    parser.add_argument("--out", default=str(RESULTS), help="where load.json and load.md go")
    parser.add_argument(
        "--from-json",
        metavar="LOAD_JSON",
        help="run nothing: write the report again from the runs kept in an earlier load.json",
    )
    args = parser.parse_args()
    if args.from_json:
        return rewrite(Path(args.from_json), Path(args.out))
    run_time = 15 if args.quick and args.run_time == 60 else args.run_time
    user_counts = [int(u) for u in args.users.split(",")]
    command = " ".join([".venv/bin/python bench/load.py", *(shlex.quote(a) for a in sys.argv[1:])])

    if args.rebuild or not args.quick or not DATASET.exists():
        ensure_database()
        connection.close()
        call_command("migrate", verbosity=0)
        started = time.monotonic()
        DATASET.write_text(json.dumps(build(), indent=1))
        print(f"data built in {time.monotonic() - started:.0f} s -> {DATASET}")
    call_command("collectstatic", interactive=False, verbosity=0)
    print(f"static files in {settings.STATIC_ROOT}")

    work = Path(tempfile.mkdtemp(prefix="readiness-load-"))
    server = start_gunicorn(args.port, args.workers, args.threads, work / "gunicorn.log")
    runs = []
    try:
        for users in user_counts:
            before = os.getloadavg()[0]
            stats = run_locust(args.port, users, run_time, work / f"u{users}")
            stats.update(users=users, load_before=before, load_after=os.getloadavg()[0])
            runs.append(stats)
            print(
                f"{users} users: {stats['rps']:.1f} req/s, {stats['requests']} requests, "
                f"{stats['failures']} errors, {stats['conflicts']} version conflicts, "
                f"load {before:.1f} -> {stats['load_after']:.1f}"
            )
            for kind in KINDS:
                k = stats["kinds"].get(kind)
                if k:
                    print(f"  {kind:14} p50 {k['p50']:6.0f}  p95 {k['p95']:6.0f}  p99 {k['p99']:6.0f} ms")
    finally:
        stop(server)
    facts = check_gate_facts()
    print(f"check_gate_facts: {facts['output']}")
    result = report(
        runs, command=command, workers=args.workers, threads=args.threads, run_time=run_time, facts=facts
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "load.json").write_text(json.dumps(result, indent=1) + "\n")
    write_markdown(result, out / "load.md")
    print(f"wrote {out / 'load.json'} and {out / 'load.md'}; gunicorn log {work / 'gunicorn.log'}")


if __name__ == "__main__":
    main()
