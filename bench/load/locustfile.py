"""The load scenario: chairs walking the meeting, members scoring, auditors downloading decision records,
pipelines asking the gate. Run by bench/load.py, which builds the data and writes the dataset file that
LOAD_DATASET names (users, password, reviews, decisions, API tokens); to run it by hand against a server
with that data:

    LOAD_DATASET=/tmp/readiness-load-dataset.json .venv/bin/locust -f bench/load/locustfile.py \
        --headless -u 30 -r 10 --run-time 60s --host http://127.0.0.1:8830

Requests are named per kind (not per URL), so the statistics have one row per kind. A score change that
meets a newer version (someone else saved meanwhile) is the app working as designed: it succeeds as a
request and is counted apart, as a "conflict" row, not as an error.
"""

import itertools
import json
import os
import random
import re
from pathlib import Path

from locust import HttpUser, between, events, task

DATA = json.loads(Path(os.environ["LOAD_DATASET"]).read_text())
TEAMS = DATA["teams"]
CODES = DATA["codes"]  # the categories the scenario scores (each has evidence, so 2 and 3 are allowed)
LAST_STEP = DATA["last_step"]
RELOGIN_EVERY = 25  # tasks: sessions end and people sign in again, so sign-ins go on under load

CONFLICT_WORDS = ("since you loaded it", "by someone else meanwhile")
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
VERSION = re.compile(r'id="score-form-(?P<code>[-\w]+)".*?name="version" value="(?P<version>\d+)"', re.S)

# Each class hands out its people in turn: user n of a class is person n mod len(people).
_turns = {kind: itertools.count() for kind in ("chair", "member", "auditor", "pipeline")}


def _person(kind: str) -> tuple[dict, str]:
    n = next(_turns[kind])
    team = TEAMS[n % len(TEAMS)]
    if kind == "member":
        return team, team["members"][(n // len(TEAMS)) % len(team["members"])]
    return team, team.get(kind, "")


def conflict(name: str) -> None:
    """An expected version conflict: its own row in the statistics (request type CONFLICT)."""
    events.request.fire(
        request_type="CONFLICT",
        name=name,
        response_time=0,
        response_length=0,
        exception=None,
        context={},
    )


class SignedIn(HttpUser):
    """A person with a session: signs in at the start and again every RELOGIN_EVERY tasks."""

    abstract = True
    kind = ""
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        self.team, self.username = _person(self.kind)
        self.tasks_done = 0
        self.login()

    def login(self) -> None:
        page = self.client.get("/login/", name="login form")
        found = CSRF_INPUT.search(page.text)
        with self.client.post(
            "/login/",
            data={
                "username": self.username,
                "password": DATA["password"],
                "csrfmiddlewaretoken": found.group(1) if found else "",
                "next": "/",
            },
            name="login",
            allow_redirects=False,
            catch_response=True,
        ) as response:
            if response.status_code != 302 or "/login/" in response.headers.get("Location", ""):
                response.failure(f"sign-in refused ({response.status_code})")

    def post(self, url: str, name: str, data: dict | None = None, **kwargs):
        headers = {"X-CSRFToken": self.client.cookies.get("csrftoken", ""), **kwargs.pop("headers", {})}
        return self.client.post(url, data=data or {}, headers=headers, name=name, **kwargs)

    def tick(self) -> None:
        self.tasks_done += 1
        if self.tasks_done % RELOGIN_EVERY == 0:
            self.post("/logout/", "logout", allow_redirects=False)
            self.client.cookies.clear()
            self.login()


class Chair(SignedIn):
    """Walks the agenda of a review of its team, step 1 to 13 (reporting where it is), scoring at step 11."""

    weight = 1
    kind = "chair"

    def on_start(self) -> None:
        super().on_start()
        self.review = random.choice(self.team["reviews"])
        self.step = 0

    @task
    def next_step(self) -> None:
        self.step = self.step % LAST_STEP + 1
        base = f"/reviews/{self.review}/meeting/"
        page = self.client.get(f"{base}{self.step}/", name="meeting step")
        self.post(f"{base}{self.step}/here/", "meeting here")
        if self.step == 11 and page.ok:
            versions = {m["code"]: int(m["version"]) for m in VERSION.finditer(page.text)}
            code = random.choice(CODES)
            change_score(self, self.review, code, versions.get(code, 0))
        if self.step == LAST_STEP:
            self.review = random.choice(self.team["reviews"])
        self.tick()


class Member(SignedIn):
    """Opens the review page and the scoring step, then changes scores with the version it loaded;
    after a conflict it takes the version it was shown and goes on."""

    weight = 4
    kind = "member"

    def on_start(self) -> None:
        super().on_start()
        self.versions: dict[str, int] = {}
        self.review = random.choice(self.team["reviews"])

    @task(1)
    def open_review(self) -> None:
        self.review = random.choice(self.team["reviews"])
        self.client.get(f"/reviews/{self.review}/", name="review page")
        page = self.client.get(f"/reviews/{self.review}/meeting/11/", name="meeting step")
        if page.ok:
            self.versions = {m["code"]: int(m["version"]) for m in VERSION.finditer(page.text)}
        self.tick()

    @task(3)
    def score(self) -> None:
        if not self.versions:
            return self.open_review()
        code = random.choice(CODES)
        self.versions[code] = change_score(self, self.review, code, self.versions.get(code, 0))
        self.tick()


def change_score(user: SignedIn, review: int, code: str, version: int) -> int:
    """The htmx score change (2 or 3, the category has evidence). Returns the version now stored."""
    with user.post(
        f"/reviews/{review}/meeting/scores/{code}/",
        "score change",
        data={"score": random.choice((2, 3)), "version": version, "notes": "", "owner": ""},
        headers={"HX-Request": "true"},
        catch_response=True,
    ) as response:
        shown = re.search(
            rf'id="score-form-{re.escape(code)}".*?name="version" value="(\d+)"', response.text, re.S
        )
        if response.status_code == 422 and any(w in response.text for w in CONFLICT_WORDS):
            response.success()
            conflict("score change")
        elif response.status_code != 200:
            response.failure(f"score change answered {response.status_code}")
        return int(shown.group(1)) if shown else version


class Auditor(SignedIn):
    """Downloads decision records of its team: the JSON and the stored PDF (rendered once by a worker)."""

    weight = 1
    kind = "auditor"

    @task(1)
    def record_json(self) -> None:
        self.client.get(f"/decisions/{random.choice(self.team['decisions'])}/record.json", name="record json")
        self.tick()

    @task(1)
    def record_pdf(self) -> None:
        with self.client.get(
            f"/decisions/{random.choice(self.team['decisions'])}/record.pdf",
            name="record pdf",
            catch_response=True,
        ) as response:
            if response.status_code != 200 or response.headers.get("Content-Type") != "application/pdf":
                response.failure(f"no stored PDF ({response.status_code})")
        self.tick()


class Pipeline(HttpUser):
    """A deploy pipeline with its team's API token: the system's gate, and the gate of one review."""

    weight = 2
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        self.team, _ = _person("pipeline")
        self.client.headers["Authorization"] = f"Bearer {self.team['token']}"

    @task(1)
    def system_gate(self) -> None:
        self.client.get(f"/api/systems/{random.choice(self.team['systems'])}/gate", name="gate api")

    @task(1)
    def review_gate(self) -> None:
        self.client.get(f"/api/reviews/{random.choice(self.team['reviews'])}/gate", name="gate api")
