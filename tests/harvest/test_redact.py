"""Personal-data redaction and the near-duplicate normal form."""

from __future__ import annotations

from promptlab.harvest import DedupPolicy, RedactPolicy
from promptlab.harvest._redact import Redactor, dedup_key, normalise


def test_named_fields_lose_their_values_at_any_depth_and_patterns_are_masked_in_all_text() -> None:
    redactor = Redactor(policy=RedactPolicy(fields=["customer_name", "iban"], patterns=["email", "phone"]))
    value = {
        "customer_name": "Ann Lee",
        "message": "Reach me at ann.lee@example.co.uk or +49 151 2345678, order GX-517365 on 2024-06-12.",
        "history": [{"iban": "DE89370400440532013000", "text": "call (415) 555-0134"}],
        "n": 3,
    }
    assert redactor.value(value) == {
        "customer_name": "[customer_name]",
        "message": "Reach me at [email] or [phone], order GX-517365 on 2024-06-12.",
        "history": [{"iban": "[iban]", "text": "call [phone]"}],
        "n": 3,
    }


def test_custom_patterns_and_replacements() -> None:
    redactor = Redactor(policy=RedactPolicy(patterns=[], custom={"ticket": r"TCK-\d+"}, replacement="<{name}>"))
    assert redactor.text("see TCK-42 and TCK-7") == "see <ticket> and <ticket>"


def test_near_duplicates_differ_only_in_case_spacing_and_numbers() -> None:
    policy = DedupPolicy()
    assert normalise({"m": "Charged TWICE  for order 123"}, policy) == normalise(
        {"m": "charged twice for order 9"}, policy
    )
    assert normalise("Straße", policy) == normalise("STRASSE", policy)
    exact = DedupPolicy(mask_numbers=False)
    assert normalise("order 123", exact) != normalise("order 9", exact)


def test_the_dedup_key_ignores_chosen_vars_and_splits_on_chosen_segments() -> None:
    policy = DedupPolicy(ignore_vars=["session"], segment=["geo"])
    a = dedup_key(prompt="p", detector="d", vars={"m": "x", "session": "1"}, segment={"geo": "DE"}, policy=policy)
    b = dedup_key(prompt="p", detector="d", vars={"m": "x", "session": "2"}, segment={"geo": "DE"}, policy=policy)
    c = dedup_key(prompt="p", detector="d", vars={"m": "x"}, segment={"geo": "US"}, policy=policy)
    other = dedup_key(prompt="p", detector="e", vars={"m": "x"}, segment={"geo": "DE"}, policy=policy)
    assert a == b != c
    assert a != other
