#!/usr/bin/env bash
# Re-record the example's responses with the synthetic model, then prove they replay offline.
#
#   examples/support-triage/record.sh            # from anywhere; uses the repository's .venv
#
# 1. regenerates cases/ from make_cases.py (deterministic, so unchanged unless the generator changed);
# 2. empties responses/ and runs v1 and v2 through python:synthetic_model.py:respond with
#    --cache-mode read-write --repeats 3, which records every model call (tool turns included);
# 3. replays both versions with the artifacts' own provider (openai) in --cache-mode read-only and no API key:
#    any request that was not recorded would fail the replay.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
py="$root/.venv/bin/python"
promptlab="$root/.venv/bin/promptlab"
runs="$(mktemp -d "${TMPDIR:-/tmp}/support-triage-runs.XXXXXX")"
trap 'rm -rf "$runs"' EXIT

cd "$here"
"$py" make_cases.py
"$promptlab" artifact validate v1.yaml v2.yaml
"$promptlab" dataset validate --suite suite.yaml

rm -f responses/responses.jsonl
for version in v1 v2; do
    "$promptlab" run --artifact "$version.yaml" --suite suite.yaml --out "$runs/record-$version" \
        --provider python:synthetic_model.py:respond --cache-mode read-write --repeats 3 --no-progress
done

for version in v1 v2; do
    env -u OPENAI_API_KEY -u OPENAI_BASE_URL "$promptlab" run --artifact "$version.yaml" --suite suite.yaml \
        --out "$runs/replay-$version" --cache-mode read-only --repeats 3 --no-progress
done
echo "recorded $(wc -l < responses/responses.jsonl) responses in $here/responses/responses.jsonl"
