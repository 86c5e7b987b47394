from __future__ import annotations

from pathlib import Path

import pytest

from promptlab.errors import FileFormatError, NotifyError
from promptlab.notify import NOTIFY_FILE_ENV, NotifyTarget, load_targets, parse_target, resolve_targets

TARGETS = """\
targets:
  - {name: "#support-ml-oncall", url: "https://hooks.slack.com/services/T/B/X", format: slack}
  - {name: ci, url: "https://ci.example.com/hook", secret_env: CI_HOOK_SECRET, events: [gate.decision]}
"""


def test_a_url_is_a_generic_json_target_and_slack_plus_url_a_slack_one() -> None:
    assert parse_target("https://example.com/h") == NotifyTarget(url="https://example.com/h")
    slack = parse_target("slack+https://hooks.slack.com/services/T/B/X")
    assert slack.format == "slack" and slack.url == "https://hooks.slack.com/services/T/B/X"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("ftp://example.com/h", "notify: url: expected an http(s) URL, got 'ftp://example.com/h'"),
        ({"url": "https://x.io", "format": "teams"}, "notify: format: Input should be 'json' or 'slack'"),
        ({"url": "https://x.io", "events": ["deploy"]}, "notify: events: unknown event kind(s) deploy"),
        ({"url": "https://x.io", "secret_env": "NOT A NAME"}, "notify: secret_env: expected an environment variable"),
        ({"url": "https://x.io", "retries": 99}, "notify: retries: Input should be less than or equal to 10"),
        ({"url": "https://x.io", "colour": "red"}, "notify: colour: Extra inputs are not permitted"),
    ],
)
def test_bad_specs_are_one_line_errors_naming_the_field(spec: object, message: str) -> None:
    with pytest.raises(NotifyError) as exc:
        parse_target(spec)  # type: ignore[arg-type]
    assert str(exc.value).startswith(message)
    assert "\n" not in str(exc.value)


def test_names_resolve_through_the_targets_file(tmp_path: Path) -> None:
    file = tmp_path / "notify.yaml"
    file.write_text(TARGETS)
    targets = resolve_targets(["#support-ml-oncall", "https://other.example.com/h"], targets_file=file)
    assert [t.url for t in targets] == ["https://other.example.com/h", "https://hooks.slack.com/services/T/B/X"]
    assert targets[1].format == "slack" and targets[1].display == "#support-ml-oncall"


def test_the_targets_file_can_come_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "notify.yaml"
    file.write_text(TARGETS)
    monkeypatch.setenv(NOTIFY_FILE_ENV, str(file))
    [target] = resolve_targets(["ci"])
    assert target.secret_env == "CI_HOOK_SECRET" and target.wants("gate.decision") and not target.wants("canary.freeze")


def test_an_unknown_name_warns_once_and_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    # The example policies name "#support-ml-oncall" with no targets file: a freeze must still happen.
    monkeypatch.delenv(NOTIFY_FILE_ENV, raising=False)
    warnings: list[str] = []
    assert resolve_targets(["#support-ml-oncall"], warn=warnings.append) == []
    expected = f"notify target '#support-ml-oncall' is not defined (no targets file: set {NOTIFY_FILE_ENV})"
    expected += "; not notified"
    assert warnings == [expected]


def test_a_bad_targets_file_names_file_and_field(tmp_path: Path) -> None:
    file = tmp_path / "notify.yaml"
    file.write_text("targets:\n  - {name: x, url: 'nope'}\n")
    with pytest.raises(FileFormatError, match=r"notify.yaml: targets.0.url: expected an http\(s\) URL"):
        load_targets(file)
    with pytest.raises(FileFormatError, match="notification targets file not found"):
        load_targets(tmp_path / "missing.yaml")


def test_display_hides_the_webhook_path() -> None:
    assert parse_target("https://hooks.slack.com/services/T/B/X").display == "https://hooks.slack.com/..."


def test_a_mapping_can_be_given_as_text_on_a_command_line() -> None:
    target = parse_target('{url: "https://x.io/h", format: slack, retries: 1}')
    assert (target.url, target.format, target.retries) == ("https://x.io/h", "slack", 1)
    with pytest.raises(NotifyError, match=r"^notify: not a valid mapping: \{url: \["):
        parse_target("{url: [")
