from __future__ import annotations

import json
from pathlib import Path

import pytest

from promptlab.bundles import generate_keys, key_id, load_private_key
from promptlab.errors import InputError
from promptlab.notebook import run_versions, signing_key, write_results


def test_signing_key_is_generated_once_then_reused(tmp_path: Path) -> None:
    private, public = signing_key("", tmp_path)
    assert private == tmp_path / "keys" / "signing.key" and public == tmp_path / "keys" / "signing.pub"
    first = key_id(load_private_key(private))
    again, _ = signing_key(None, tmp_path)
    assert key_id(load_private_key(again)) == first


def test_given_signing_key_is_used_as_is(tmp_path: Path) -> None:
    pair = generate_keys(tmp_path / "mine")
    assert signing_key(str(pair.private_path), tmp_path / "out") == (pair.private_path, pair.public_path)
    assert not (tmp_path / "out").exists()
    with pytest.raises(InputError, match=r"nope\.key: signing key not found"):
        signing_key(str(tmp_path / "nope.key"), tmp_path)


def test_results_paths_are_relative_to_the_output_dir(tmp_path: Path) -> None:
    path = write_results(tmp_path, {"report": tmp_path / "report.html", "other": Path("/elsewhere/x"), "n": 3})
    assert json.loads(path.read_text()) == {"n": 3, "other": "/elsewhere/x", "report": "report.html"}


def test_run_versions_refuses_to_replace_a_directory_that_is_not_a_run(tmp_path: Path) -> None:
    keep = tmp_path / "runs" / "baseline"
    keep.mkdir(parents=True)
    (keep / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="exists and is not a run directory; refusing to replace it"):
        run_versions("a.yaml", "b.yaml", "suite.yaml", tmp_path)
    assert (keep / "notes.txt").read_text() == "mine"
