"""Fetch the vendored plotly.js bundle again with npm and check it against promptlab/reports/_vendor/plotly-basic.json.

    python .ci/vendor_plotly.py            # exit 0 when npm's file matches the vendored file and the manifest digest
    python .ci/vendor_plotly.py --update   # vendor the manifest's version afresh and rewrite its sha256 and licence
    python .ci/vendor_plotly.py --update --version 4.2.0

Needs `npm` on PATH (it talks to the npm registry with `npm pack`). The manifest's `version` should share its
major version with the plotly.js that the installed `plotly` package ships (tests/reports/test_plotly.py checks).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VENDOR = Path(__file__).resolve().parents[1] / "promptlab" / "reports" / "_vendor"
MANIFEST = VENDOR / "plotly-basic.json"


def fetch(package: str, version: str, into: Path) -> tuple[bytes, str]:
    """The dist file and LICENSE text of `package@version`, via `npm pack`."""
    done = subprocess.run(
        ["npm", "pack", f"{package}@{version}", "--silent", "--pack-destination", str(into)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"npm pack {package}@{version} failed: {done.stderr.strip()}")
    tarball = into / done.stdout.strip().splitlines()[-1]
    with tarfile.open(tarball) as tar:
        meta = json.load(tar.extractfile("package/package.json"))  # type: ignore[arg-type]
        dist = tar.extractfile(f"package/{meta['main']}").read()  # type: ignore[union-attr]
        licence = tar.extractfile("package/LICENSE").read().decode()  # type: ignore[union-attr]
    if meta["version"] != version or meta["license"] != "MIT":
        sys.exit(f"{package}@{version}: npm returned version {meta['version']}, licence {meta['license']}")
    return dist, licence


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help="rewrite the vendored file and the manifest")
    parser.add_argument("--version", help="with --update: the version to vendor (default: the manifest's)")
    args = parser.parse_args()
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    version = args.version or manifest["version"]
    with tempfile.TemporaryDirectory() as tmp:
        dist, licence = fetch(manifest["package"], version, Path(tmp))
    digest = hashlib.sha256(dist).hexdigest()
    vendored = VENDOR / manifest["file"]
    if args.update:
        vendored.write_bytes(dist)
        manifest.update(
            version=version,
            sha256=digest,
            license_text=licence,
            source=f"https://registry.npmjs.org/{manifest['package']}/-/{manifest['package']}-{version}.tgz",
        )
        MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        print(f"vendored {manifest['package']}@{version}: {len(dist):,} bytes, sha256 {digest}")
        return 0
    local = hashlib.sha256(vendored.read_bytes()).hexdigest()
    print(f"npm {manifest['package']}@{version}: sha256 {digest}")
    print(f"manifest:                sha256 {manifest['sha256']}")
    print(f"vendored file:           sha256 {local}")
    if digest == manifest["sha256"] == local:
        print("match")
        return 0
    print("MISMATCH")
    return 1


if __name__ == "__main__":
    sys.exit(main())
