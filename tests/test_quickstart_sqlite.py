"""The quick start's embedded default: SQLite and tasks in-process. The suite runs on PostgreSQL, so a
query only PostgreSQL understands (DISTINCT ON, say) would pass every other test and break the first
page a newcomer opens. This builds the demo on SQLite in a subprocess and opens the main pages."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PAGES = r"""
import django
django.setup()
from django.contrib.auth import get_user_model
from django.test import Client
from django.test.utils import setup_test_environment
from reviews.models import Review
setup_test_environment()
client = Client()
client.force_login(get_user_model().objects.get(username="ada"))
paths = ["/", "/portfolio/", "/guide/"]
for review in Review.objects.filter(system__team__name="Payments"):
    paths += [review.get_absolute_url(), f"/reviews/{review.pk}/meeting/decision/"]
    paths += [f"/reviews/{review.pk}/meeting/{n}/" for n in range(1, 14)]
bad = [(p, r.status_code) for p in paths if (r := client.get(p)).status_code != 200]
print(len(paths), "pages", bad)
sys.exit(1 if bad else 0)
"""


def test_the_demo_on_sqlite_opens_every_review_and_meeting_step(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE", "READINESS_VAR_DIR"}
    }
    env.update(DEBUG="1", DJANGO_SETTINGS_MODULE="readiness.settings", READINESS_VAR_DIR=str(tmp_path))
    manage = [sys.executable, str(ROOT / "manage.py")]
    for command in (["migrate", "--noinput", "-v0"], ["demo"]):
        done = subprocess.run(
            manage + command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "readiness.sqlite3").exists()
    done = subprocess.run(
        [sys.executable, "-c", "import sys\n" + PAGES],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
