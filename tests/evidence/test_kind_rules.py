"""The rules of each kind declared in evidence.kinds, without a database: what `Spec.clean` accepts (the
samples and the spellings a spreadsheet gives) and refuses (each error by field name), that it never
raises and gives values it accepts again unchanged, and each kind's verdict (complete, incomplete,
failing) and why."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evidence import verdict
from evidence.kinds import KINDS, declared
from evidence.kinds.spec import CHOICE, DATE, INT, LINE, MULTI, NO, TEXT, TYPES, URL, YES, YESNO

from .declared_samples import SAMPLES

KIND_NAMES = sorted(KINDS)
FIELDS = [(kind, f.name) for kind in KIND_NAMES for f in KINDS[kind].fields]
WANTED = [(kind, f.name) for kind in KIND_NAMES for f in KINDS[kind].fields if f.wanted]
REQUIRED = [(kind, f.name) for kind in KIND_NAMES for f in KINDS[kind].fields if f.required and not f.wanted]


def field(kind: str, name: str):
    return KINDS[kind].by_name[name]


def cleaned(kind: str, **changes) -> dict:
    """The sample of `kind` with `changes`, cleaned; fails the test when it is refused."""
    values, errors = KINDS[kind].clean({**SAMPLES[kind], **changes})
    assert errors == {}, errors
    return values


def judged(kind: str, **changes) -> verdict.Verdict:
    return KINDS[kind].verdict(cleaned(kind, **changes))


# --- Every field type is declared by some kind, so the tests below walk each of them


def test_every_field_type_is_used_by_some_kind():
    from evidence.kinds import ALL

    assert {f.type for spec in ALL.values() for f in spec.fields} == set(TYPES)


def test_the_declarations_hold_together():
    for spec in KINDS.values():
        assert set(spec.key) <= set(spec.names), spec.kind
        if spec.observed:
            assert spec.by_name[spec.observed].type == DATE, spec.kind
        assert spec.failing_level in (None, "P0", "P1", "P2", "P3"), spec.kind
        assert len(set(spec.names)) == len(spec.names), spec.kind
    codes = {code for code, _ in declared.RULE_TYPES}
    assert set(declared.PREFERRED_ENFORCEMENT) == codes and codes >= declared.DATABASE_RULES
    assert set(declared.REQUIRED_SCENARIOS) == set(declared.EXPECTED)


# --- The samples, and the spellings of a spreadsheet


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_the_sample_is_accepted_as_it_is(kind):
    values, errors = KINDS[kind].clean(SAMPLES[kind])
    assert errors == {}
    assert {name: values[name] for name in SAMPLES[kind]} == SAMPLES[kind]
    assert set(values) == set(KINDS[kind].names)  # every field has its stored value, empty or not


def _as_a_spreadsheet_gives_it(f, value):
    """The sample's stored value as a spreadsheet cell would spell it."""
    if f.type == CHOICE:
        return dict(f.choices)[value].upper()
    if f.type == MULTI:
        return "; ".join(dict(f.choices)[v] for v in reversed(value))
    if f.type == YESNO:
        return {YES: "TRUE", NO: "no"}[value]
    if f.type == INT:
        return f" {value:,} "
    if f.type == DATE:
        return datetime.fromisoformat(value)
    return value


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_a_spreadsheet_row_of_the_sample_is_read_as_the_sample(kind):
    spec = KINDS[kind]
    row = {name: _as_a_spreadsheet_gives_it(spec.by_name[name], v) for name, v in SAMPLES[kind].items()}
    values, errors = spec.clean(row)
    assert errors == {}
    assert values == spec.clean(SAMPLES[kind])[0]


@pytest.mark.parametrize(("kind", "name"), [(k, n) for k, n in FIELDS if field(k, n).type == CHOICE])
def test_a_choice_is_read_from_its_code_or_its_label_in_any_case(kind, name):
    f = field(kind, name)
    for code, label in f.choices:
        for spelling in (code, label, label.upper(), label.lower(), f"  {label.title()} "):
            assert f.clean(spelling) == (code, ""), spelling


@pytest.mark.parametrize(("kind", "name"), [(k, n) for k, n in FIELDS if field(k, n).type == YESNO])
def test_yes_and_no_are_read_as_a_spreadsheet_spells_them(kind, name):
    f = field(kind, name)
    for spelling in ("yes", "Yes", "YES", " y ", "TRUE", "true", "1", "x", True):
        assert f.clean(spelling) == (YES, ""), spelling
    for spelling in ("no", "No", "NO", "n", "FALSE", "false", "0", False):
        assert f.clean(spelling) == (NO, ""), spelling


@pytest.mark.parametrize(("kind", "name"), [(k, n) for k, n in FIELDS if field(k, n).type == INT])
def test_a_whole_number_is_read_with_thousands_separators(kind, name):
    f = field(kind, name)
    assert f.clean("1,200") == (1200, "")
    assert f.clean(" 60 ") == (60, "")
    assert f.clean(60.0) == (60, "")  # a spreadsheet's numbers are floats
    assert f.clean(0) == (0, "")
    assert f.clean(f.max_value) == (f.max_value, "")
    assert f.clean(f"{f.max_value:,}") == (f.max_value, "")


@pytest.mark.parametrize(("kind", "name"), [(k, n) for k, n in FIELDS if field(k, n).type == DATE])
def test_a_date_is_read_from_iso_text_or_a_spreadsheets_date(kind, name):
    f = field(kind, name)
    for spelling in ("2026-11-20", " 2026-11-20 ", date(2026, 11, 20), datetime(2026, 11, 20, 15, 30)):
        assert f.clean(spelling) == ("2026-11-20", ""), spelling


@pytest.mark.parametrize(("kind", "name"), [(k, n) for k, n in FIELDS if field(k, n).type == MULTI])
def test_a_list_is_read_from_semicolons_commas_or_a_list_in_the_declared_order(kind, name):
    f = field(kind, name)
    (first_code, first_label), (second_code, second_label) = f.choices[:2]
    both = ([first_code, second_code], "")
    for spelling in (
        f"{first_code}; {second_code}",
        f"{second_label.upper()}; {first_label}",
        f"{second_code},{first_code},{second_code}",  # said twice, kept once
        [second_label, first_code],
        (first_code, second_code),
        f"{first_code};; {second_code};",
    ):
        assert f.clean(spelling) == both, spelling
    assert f.clean("") == ([], "") and f.clean(None) == ([], "")


@pytest.mark.parametrize(("kind", "name"), [(k, n) for k, n in FIELDS if field(k, n).type == URL])
def test_an_address_is_read_when_it_is_http_or_https(kind, name):
    f = field(kind, name)
    for spelling in ("https://grafana.example.com/d/x", " http://wiki.example.com/a?b=c "):
        assert f.clean(spelling) == (spelling.strip(), "")


# --- What is refused: each error by its field's name, nothing else


def _bad_values(f) -> list[tuple[object, str]]:
    """(a value the field must refuse, words its error says)."""
    start = "https://x.example.com/" if f.type == URL else ""  # an address refused for its text alone
    text = [
        (5, "Give text"),
        (1.5, "Give text"),
        (True, "Give text"),
        (["a"], "Give text"),
        ({"a": 1}, "Give text"),
        (start + "a\x00b", "NUL"),
        (start + "broken \ud800 unicode", "Unicode"),
        (start + "x" * (f.limit + 1 - len(start)), f"At most {f.limit:,} characters"),
    ]
    choice = [
        ("no such choice", "Choose one of"),
        (3, "Give text"),
        (True, "Give text"),
        (["x"], "Give text"),
    ]
    return {
        LINE: text,
        TEXT: text,
        URL: [
            *text,
            ("ftp://files.example.com/x", "http"),
            ("grafana.example.com/d/x", "http"),
            ("javascript:alert(1)", "http"),
        ],
        CHOICE: choice,
        MULTI: [
            ("no such choice", "Choose one of"),
            (f"{f.choices[0][0]}; no such choice" if f.choices else "x", "Choose one of"),
            (5, "Give a list"),
            (True, "Give a list"),
            ({"a": 1}, "Give a list"),
            ([1], "Give a list of names"),
            ([None], "Give a list of names"),
            ([["nested"]], "Give a list of names"),
        ],
        YESNO: [("maybe", "yes or no"), (2, "yes or no"), (1.5, "yes or no"), (["yes"], "yes or no")],
        INT: [
            ("ten", "whole number"),
            ("1.5", "whole number"),
            (1.5, "whole number"),
            ("1e3", "whole number"),
            (float("nan"), "whole number"),
            (float("inf"), "whole number"),
            (True, "whole number"),
            ([1], "whole number"),
            ({"n": 1}, "whole number"),
            (f.min_value - 1, "Give a number from"),
            (str(f.min_value - 1), "Give a number from"),
            (f.max_value + 1, "Give a number from"),
            (10**40, "Give a number from"),
        ],
        DATE: [
            ("20/11/2026", "YYYY-MM-DD"),
            ("2026-13-01", "YYYY-MM-DD"),
            ("tomorrow", "YYYY-MM-DD"),
            ("2026-11-20\x00", "YYYY-MM-DD"),
            (True, "YYYY-MM-DD"),
            (20261120, "YYYY-MM-DD"),  # a number is not a date, though its digits read as one
            (2026.5, "YYYY-MM-DD"),
            (["2026-11-20"], "YYYY-MM-DD"),
        ],
    }[f.type]


@pytest.mark.parametrize(("kind", "name"), FIELDS)
def test_a_wrong_value_is_refused_by_its_fields_name_alone(kind, name):
    spec = KINDS[kind]
    for bad, words in _bad_values(spec.by_name[name]):
        values, errors = spec.clean({**SAMPLES[kind], name: bad})
        assert set(errors) == {name}, (bad, errors)
        assert words in errors[name], (bad, errors[name])


@pytest.mark.parametrize(("kind", "name"), REQUIRED)
def test_a_required_field_left_empty_is_refused_by_name(kind, name):
    spec = KINDS[kind]
    for empty in ("", "   ", None, *([[], "; "] if spec.by_name[name].type == MULTI else [])):
        raw = {**SAMPLES[kind], name: empty}
        assert spec.clean(raw)[1] == {name: "Required."}, empty
    raw = {k: v for k, v in SAMPLES[kind].items() if k != name}
    assert spec.clean(raw)[1] == {name: "Required."}


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_an_empty_row_lists_every_required_field(kind):
    assert set(KINDS[kind].clean({})[1]) == {n for k, n in REQUIRED if k == kind}


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_unknown_fields_are_refused_each_by_its_own_name(kind):
    spec = KINDS[kind]
    first = spec.names[0]
    values, errors = spec.clean({**SAMPLES[kind], "colour": "red", first.upper(): "x", "": 1})
    assert set(errors) == {"colour", first.upper(), ""}
    assert errors["colour"] == f"{spec.label} has no field 'colour'."


def test_another_scenario_must_say_what_it_is():
    spec = KINDS["concurrency_test"]
    raw = {**SAMPLES["concurrency_test"], "scenario": "other"}
    assert spec.clean(raw)[1] == {"description": "Say what the scenario is."}
    assert spec.clean({**raw, "description": "Two imports of one file"})[1] == {}


@pytest.mark.parametrize(("kind", "name"), [(k, n) for k, n in FIELDS if field(k, n).max_length])
def test_a_declared_length_is_the_limit_not_the_types_default(kind, name):
    f = field(kind, name)
    assert f.clean("x" * f.max_length) == ("x" * f.max_length, "")
    assert f.clean("x" * (f.max_length + 1))[1] == f"At most {f.max_length:,} characters."


# --- Any input: clean() never raises, and what it gives it accepts again unchanged

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(alphabet=st.characters(exclude_categories=()), max_size=30)
)
_JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4), max_leaves=8)


def _spellings(f) -> st.SearchStrategy:
    """Values close to what the field takes, so that many rows pass and reach the checks after them."""
    words = [code for code, _ in f.all_choices] + [label for _, label in f.all_choices]
    words += ["yes", "No", "TRUE", "1,200", "60", "2026-11-20", "https://x.example.com/a", "", "  "]
    words += ["a\x00b", "lone \udc80 half", "https://x.example.com/\ud83d"]  # what PostgreSQL cannot store
    near = st.sampled_from(words)
    return near | st.lists(near, max_size=3) | st.builds("; ".join, st.lists(near, max_size=3)) | _JSON


def _rows(spec) -> st.SearchStrategy:
    overrides = st.fixed_dictionaries({}, optional={f.name: _spellings(f) for f in spec.fields})
    strangers = st.dictionaries(st.text(max_size=8), _JSON, max_size=2)
    from_sample = st.builds(lambda o, s: {**SAMPLES[spec.kind], **o, **s}, overrides, strangers | st.just({}))
    anything = st.dictionaries(st.sampled_from(spec.names) | st.text(max_size=8), _JSON, max_size=12)
    return from_sample | anything


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


@pytest.mark.parametrize("kind", KIND_NAMES)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_clean_never_raises_and_accepts_its_own_values_unchanged(kind, data):
    spec = KINDS[kind]
    raw = data.draw(_rows(spec))
    values, errors = spec.clean(raw)
    assert isinstance(errors, dict) and all(isinstance(e, str) and e for e in errors.values())
    assert set(errors) <= set(spec.names) | set(raw)
    if errors:
        return
    assert spec.clean(values) == (values, {})
    assert json.loads(json.dumps(values)) == values  # stored as JSON as it is
    for text in (s for v in values.values() for s in _strings(v)):
        assert "\x00" not in text
        text.encode("utf-8")  # PostgreSQL stores only what UTF-8 can say
    judged_ = spec.verdict(values)
    assert judged_.state in (verdict.COMPLETE, verdict.INCOMPLETE, verdict.FAILING)
    assert judged_.supports or judged_.why
    if judged_.state == verdict.FAILING:
        assert spec.failing_level is not None  # a failing record opens its finding
    assert spec.title(values).strip() and isinstance(spec.summary(values), str)
    spec.rows(values)
    assert json.loads(json.dumps(spec.texts(values))) == spec.texts(values)


# --- Verdicts


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_the_sample_is_complete(kind):
    result = judged(kind)
    assert (result.state, result.supports, result.why) == (verdict.COMPLETE, True, "")


@pytest.mark.parametrize(("kind", "name"), WANTED)
def test_a_wanted_field_left_empty_is_kept_but_incomplete_and_the_verdict_names_it(kind, name):
    f = field(kind, name)
    empty = [] if f.type == MULTI else ""
    result = judged(kind, **{name: empty})
    assert result.state == verdict.INCOMPLETE and not result.supports
    assert result.why == f"does not say {f.label.lower()}"


@pytest.mark.parametrize("kind", sorted({k for k, _ in WANTED}))
def test_every_wanted_field_empty_is_named_once(kind):
    wanted = [f for f in KINDS[kind].fields if f.wanted]
    result = judged(kind, **{f.name: "" for f in wanted})
    assert result.state == verdict.INCOMPLETE
    for f in wanted:
        assert result.why.count(f.label.lower()) == 1, result.why


@pytest.mark.parametrize("rule", sorted(declared.DATABASE_RULES))
def test_a_rule_the_database_can_hold_held_only_by_the_application_is_incomplete(rule):
    result = judged("invariant", rule_type=rule, in_database="no")
    assert result.state == verdict.INCOMPLETE
    assert "held only by the application" in result.why
    assert declared.PREFERRED_ENFORCEMENT[rule] in result.why
    assert judged("invariant", rule_type=rule, in_database="yes").state == verdict.COMPLETE


@pytest.mark.parametrize("rule", sorted({c for c, _ in declared.RULE_TYPES} - declared.DATABASE_RULES))
def test_a_rule_only_the_application_can_hold_is_complete_without_the_database(rule):
    assert judged("invariant", rule_type=rule, in_database="no").state == verdict.COMPLETE


def test_an_application_held_rule_without_a_test_says_both():
    result = judged("invariant", rule_type="uniqueness", in_database="no", test="")
    assert result.state == verdict.INCOMPLETE
    assert result.why.startswith("does not say test; ") and "a UNIQUE constraint" in result.why


def test_a_failed_concurrency_test_is_failing_and_says_what_did_not_hold():
    result = judged("concurrency_test", result="failed")
    assert result.state == verdict.FAILING
    assert result.why == "failed: “One effect, the same response” did not hold"
    custom = judged("concurrency_test", result="Failed", expected="Exactly one ledger row")
    assert custom.why == "failed: “Exactly one ledger row” did not hold"


def test_a_concurrency_test_not_run_is_incomplete_and_a_passed_one_complete():
    assert judged("concurrency_test", result="not_run").state == verdict.INCOMPLETE
    assert judged("concurrency_test", result="Not run yet").why == "has not been run"
    assert judged("concurrency_test", result="passed").state == verdict.COMPLETE


def test_a_migration_plan_that_breaks_the_running_version_is_failing():
    result = judged("migration_plan", backward_compatible="no")
    assert result.state == verdict.FAILING and "not backward compatible" in result.why
    # failing outranks what it does not say
    assert judged("migration_plan", backward_compatible="No", consumers="").state == verdict.FAILING


def test_an_alert_on_a_fixed_number_is_incomplete_and_one_from_an_slo_or_baseline_complete():
    result = judged("alert_rule", threshold_basis="static")
    assert result.state == verdict.INCOMPLETE and "fixed threshold" in result.why
    assert judged("alert_rule", threshold_basis="A measured baseline").state == verdict.COMPLETE
    assert judged("alert_rule", threshold_basis="slo").state == verdict.COMPLETE


def test_personal_data_classified_public_is_failing():
    result = judged("privacy_field", classification="public")
    assert result.state == verdict.FAILING
    assert result.why == "holds personal data but is classified public"
    # not personal data: public is a fine classification
    assert judged("privacy_field", classification="public", contains_pii="no").state == verdict.COMPLETE


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("masking", "where it is masked"),
        ("erasure", "how it is erased"),
        ("legal_hold", "what a legal hold does"),
    ],
)
def test_personal_data_without_masking_erasure_or_hold_is_incomplete(name, words):
    result = judged("privacy_field", **{name: ""})
    assert result.state == verdict.INCOMPLETE
    assert result.why == f"holds personal data but does not say {words}"
    assert judged("privacy_field", contains_pii="no", **{name: ""}).state == verdict.COMPLETE


def test_a_kind_that_can_fail_declares_the_level_of_the_finding_it_opens():
    failing = {
        "concurrency_test": {"result": "failed"},
        "migration_plan": {"backward_compatible": "no"},
        "privacy_field": {"classification": "public"},
    }
    for kind, changes in failing.items():
        assert judged(kind, **changes).state == verdict.FAILING
        assert KINDS[kind].failing_level == "P1"
    assert {k for k, s in KINDS.items() if s.failing_level} == set(failing)
