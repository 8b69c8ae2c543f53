"""The signature and the three body formats, as pure functions; and the recipe the README documents,
run as written against what the sender signs."""

import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webhooks import bodies, signing
from webhooks.models import Event, Format

README = Path(__file__).resolve().parents[2] / "README.md"
SECRET = "whsec_test-secret"


def documented_recipe():
    """The Python block after the README's `signature-recipe` marker, executed as a receiver would."""
    text = README.read_text()
    block = re.search(r"<!-- signature-recipe -->\s*```python\n(.*?)```", text, re.S)
    assert block, "the README lost its verification recipe"
    namespace: dict = {}
    exec(block.group(1), namespace)  # noqa: S102  (our own documentation, run as a receiver would)
    return namespace["verify_readiness_signature"]


def envelope(**over):
    data = {
        "id": "decision.recorded:7",
        "event": Event.DECISION_RECORDED.value,
        "occurred_at": datetime(2026, 12, 3, 12, 0, tzinfo=UTC).isoformat(),
        "team": {"id": 1, "name": "Payments"},
        "summary": "Ledger: Approved <with> & more",
        "url": "https://readiness.example/decisions/7/",
        "facts": [{"name": "System", "value": "Ledger"}, {"name": "Outcome", "value": "Approved"}],
        "data": {"decision_id": 7, "outcome": "APPROVED"},
    }
    return {**data, **over}


def test_the_documented_recipe_accepts_what_the_sender_signs():
    verify = documented_recipe()
    body = bodies.render(Format.GENERIC, envelope())
    header = signing.header_value(SECRET, body)
    assert verify(SECRET, body, header)
    assert signing.verify(SECRET, body, header)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda body, header: (body + b" ", header),  # the body changed
        lambda body, header: (body, header.replace("v1=", "v1=0")),  # the signature changed
        lambda body, header: (body, re.sub(r"t=(\d+)", lambda m: f"t={int(m[1]) + 1}", header)),  # the time
        lambda body, header: (body, ""),  # no header
        lambda body, header: (body, "t=abc,v1=00"),
    ],
)
def test_the_recipe_refuses_a_changed_body_signature_or_timestamp(tamper):
    verify = documented_recipe()
    body = bodies.render(Format.GENERIC, envelope())
    changed_body, changed_header = tamper(body, signing.header_value(SECRET, body))
    assert not verify(SECRET, changed_body, changed_header)
    assert not signing.verify(SECRET, changed_body, changed_header)


def test_the_recipe_refuses_another_secret_and_a_replay_older_than_its_tolerance():
    verify = documented_recipe()
    body = bodies.render(Format.GENERIC, envelope())
    assert not verify("whsec_other", body, signing.header_value(SECRET, body))
    old = signing.header_value(SECRET, body, timestamp=int(time.time()) - 301)
    assert not verify(SECRET, body, old)
    assert not signing.verify(SECRET, body, old)
    recent = signing.header_value(SECRET, body, timestamp=int(time.time()) - 200)
    assert verify(SECRET, body, recent)


@given(st.binary(max_size=200), st.text(min_size=1, max_size=40))
def test_any_body_and_secret_sign_and_verify(body, secret):
    assert signing.verify(secret, body, signing.header_value(secret, body))


def test_generic_is_the_envelope_as_compact_utf8_json():
    body = bodies.render(Format.GENERIC, envelope(summary="Caf\u00e9"))
    assert json.loads(body) == envelope(summary="Caf\u00e9")
    assert "Café".encode() in body and b", " not in body


def test_slack_has_a_text_fallback_escaped_blocks_fields_and_a_link_button():
    message = json.loads(bodies.render(Format.SLACK, envelope()))
    assert message["text"] == "A decision recorded: Ledger: Approved <with> & more"
    header, section, actions = message["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": "A decision recorded"}}
    assert section["text"] == {"type": "mrkdwn", "text": "Ledger: Approved &lt;with&gt; &amp; more"}
    assert section["fields"][0] == {"type": "mrkdwn", "text": "*System*\nLedger"}
    (button,) = actions["elements"]
    assert button["type"] == "button" and button["url"] == "https://readiness.example/decisions/7/"


def test_slack_keeps_at_most_ten_fields_and_no_button_without_a_link():
    facts = [{"name": f"F{i}", "value": i} for i in range(14)]
    message = bodies.slack(envelope(facts=facts, url=""))
    assert len(message["blocks"][1]["fields"]) == 10
    assert [b["type"] for b in message["blocks"]] == ["header", "section"]


def test_teams_sends_an_adaptive_card_with_facts_and_an_open_url_action():
    message = json.loads(bodies.render(Format.TEAMS, envelope()))
    assert message["type"] == "message"
    (attachment,) = message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    title, summary, facts = card["body"]
    assert title["text"] == "A decision recorded" and title["weight"] == "Bolder"
    assert summary["text"] == "Ledger: Approved <with> & more"
    assert facts == {
        "type": "FactSet",
        "facts": [{"title": "System", "value": "Ledger"}, {"title": "Outcome", "value": "Approved"}],
    }
    assert card["actions"] == [
        {
            "type": "Action.OpenUrl",
            "title": "Open in Readiness",
            "url": "https://readiness.example/decisions/7/",
        }
    ]


@pytest.mark.parametrize("event", Event.values)
def test_every_event_has_a_title_in_every_format(event):
    for fmt in Format.values:
        assert json.loads(bodies.render(fmt, envelope(event=event)))
    assert bodies.title(envelope(event=event)) == Event(event).label


def test_the_guide_shows_the_same_recipe_as_the_readme_and_the_numbers_in_force(settings):
    import html

    from guide import content, sections

    settings.WEBHOOK_MAX_ATTEMPTS, settings.WEBHOOK_EXPIRING_WITHIN_DAYS = 6, 11
    (section,) = [s for s in sections.SECTIONS if s.slug == "notifications"]
    page = html.unescape(content.render(section))
    recipe = re.search(r"<!-- signature-recipe -->\s*```python\n(.*?)```", README.read_text(), re.S).group(1)
    assert recipe.strip() in page
    assert "up to 6 attempts" in page and "within 11 days" in page
