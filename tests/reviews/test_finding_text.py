"""A finding's description said once: its lead, the rest on demand, a probe's restatements left out."""

from reviews.finding_text import finding_text

OLD_PROBE = "\n\n".join(
    [
        "statement_timeout is 0 (unset, from the server level): one runaway query can run for hours",
        "statement_timeout unset or too long for 1 of 1: database ledger",
        "The statement_timeout each application role gets. Unset (0): one runaway query can run for hours.",
        "Fix: ALTER ROLE app IN DATABASE ledger SET statement_timeout = '30s';",
        "Found by probe transaction.statement-timeout-unset on Ledger primary, probe run #7.",
    ]
)


def test_an_older_probe_description_drops_the_summary_and_the_check_that_restate_it():
    text = finding_text(OLD_PROBE, from_probe=True)
    assert text.lead.startswith("statement_timeout is 0")
    assert text.more == ("Fix: ALTER ROLE app IN DATABASE ledger SET statement_timeout = '30s';",)
    assert (
        text.source == "Found by probe transaction.statement-timeout-unset on Ledger primary, probe run #7."
    )
    said = " ".join([text.lead, *text.more, text.source])
    assert said.count("one runaway query can run for hours") == 1
    assert "unset or too long" not in said


def test_a_probe_description_as_probes_write_it_now_is_kept_whole():
    description = (
        "public.orders has no primary key\n\nFix: add one.\n\nFound by probe schema.pk on db, probe run #2."
    )
    text = finding_text(description, from_probe=True)
    assert (text.lead, text.more, text.source) == (
        "public.orders has no primary key",
        ("Fix: add one.",),
        "Found by probe schema.pk on db, probe run #2.",
    )


def test_a_probe_finding_a_person_rewrote_and_a_persons_finding_are_kept_whole():
    edited = "We checked: the role is temporary.\n\nIt goes away in 3.1.\n\nWhy: the vendor's installer."
    for from_probe in (True, False):
        text = finding_text(edited, from_probe=from_probe)
        assert text.lead == "We checked: the role is temporary."
        assert text.more == ("It goes away in 3.1.", "Why: the vendor's installer.")
        assert text.source == ""


def test_an_empty_description_says_nothing():
    assert finding_text("", from_probe=False).lead == ""
    assert finding_text("  \n\n ", from_probe=True).more == ()
