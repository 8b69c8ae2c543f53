"""The body each receiver format gets, from an event's envelope (webhooks.events). Pure functions.

generic: the envelope itself, signed. slack: an incoming-webhook message (`text` for notifications,
`blocks` for the channel). teams: an Adaptive Card in a message's `attachments`, as Teams' incoming
webhooks and Workflows accept it.
"""

from __future__ import annotations

import json

from .models import Event, Format

OPEN = "Open in Readiness"
SLACK_MAX_FIELDS = 10  # Slack refuses a section with more


def title(envelope: dict) -> str:
    try:
        return Event(envelope["event"]).label
    except ValueError:
        return envelope["event"]


def generic(envelope: dict) -> dict:
    return envelope


def _slack_escape(text: str) -> str:
    """Slack's mrkdwn reads &, < and > as markup; everything else is literal."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack(envelope: dict) -> dict:
    facts = envelope.get("facts", [])[:SLACK_MAX_FIELDS]
    section = {"type": "section", "text": {"type": "mrkdwn", "text": _slack_escape(envelope["summary"])}}
    if facts:
        section["fields"] = [
            {"type": "mrkdwn", "text": f"*{_slack_escape(f['name'])}*\n{_slack_escape(str(f['value']))}"}
            for f in facts
        ]
    blocks = [{"type": "header", "text": {"type": "plain_text", "text": title(envelope)}}, section]
    if envelope.get("url"):
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {"type": "button", "text": {"type": "plain_text", "text": OPEN}, "url": envelope["url"]}
                ],
            }
        )
    return {"text": f"{title(envelope)}: {envelope['summary']}", "blocks": blocks}


def teams(envelope: dict) -> dict:
    body = [
        {"type": "TextBlock", "text": title(envelope), "weight": "Bolder", "size": "Medium", "wrap": True},
        {"type": "TextBlock", "text": envelope["summary"], "wrap": True},
    ]
    if envelope.get("facts"):
        body.append(
            {
                "type": "FactSet",
                "facts": [{"title": f["name"], "value": str(f["value"])} for f in envelope["facts"]],
            }
        )
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    if envelope.get("url"):
        card["actions"] = [{"type": "Action.OpenUrl", "title": OPEN, "url": envelope["url"]}]
    return {
        "type": "message",
        "summary": envelope["summary"],
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }


RENDERERS = {Format.GENERIC: generic, Format.SLACK: slack, Format.TEAMS: teams}


def render(fmt: str, envelope: dict) -> bytes:
    """The exact bytes that are signed and sent."""
    return json.dumps(RENDERERS[Format(fmt)](envelope), separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )
