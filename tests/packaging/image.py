"""The container image the smoke test runs, tagged by a hash of what goes into it, and how it is built.

    python -m tests.packaging.image tag     # the tag the current Dockerfile and package content make
    python -m tests.packaging.image build   # build that tag unless it exists (scripts/setup.sh --container)

No image registry is reachable from CI machines, so the base is made from Debian packages with
mmdebstrap and imported once, and the image is built with Debian's podman in chroot isolation (what
works inside an unprivileged container, docs/container.md), on the overlay storage driver unless
PARALLELAI_TEST_STORAGE_DRIVER says otherwise (vfs works anywhere, but copies every layer whole). A
tag is built only when the content hash is new, so an unchanged tree costs nothing; older tags go.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REPOSITORY = "localhost/parallelai/orchestrator"
BASE_IMAGE = "localhost/debian:bookworm-slim"
BUILD_STAGE = f"{REPOSITORY}-build:cache"
LOG_DIR = ROOT / ".tools" / "container"
HOST_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
# overlay where the kernel allows it in the container (it does on CI machines): a layer is a diff,
# where vfs copies the whole tree for each one and builds take minutes, not seconds. A store of its
# own, so that the machine's default store (and the driver its podman database names) is left alone.
DRIVER = os.environ.get("PARALLELAI_TEST_STORAGE_DRIVER", "overlay")
STORAGE = [
    "--storage-driver", DRIVER,
    "--root", f"/var/lib/containers/parallelai-tests-{DRIVER}",
    "--runroot", f"/run/containers/parallelai-tests-{DRIVER}",
]  # fmt: skip


def context_files(root: Path = ROOT) -> list[Path]:
    """The files the build reads: the Dockerfile, .dockerignore and what .dockerignore lets through
    (it excludes everything, then lets named paths back in and drops `**/` patterns from them)."""
    rules = [line.strip() for line in (root / ".dockerignore").read_text().splitlines()]
    included = [rule[1:].rstrip("/") for rule in rules if rule.startswith("!")]
    dropped = [rule.removeprefix("**/") for rule in rules if rule.startswith("**/")]
    found = [root / "Dockerfile", root / ".dockerignore"]
    for name in included:
        top = root / name
        for path in sorted(top.rglob("*")) if top.is_dir() else [top]:
            parts = path.relative_to(root).parts
            if path.is_file() and not any(fnmatch.fnmatch(part, rule) for part in parts for rule in dropped):
                found.append(path)
    return found


def content_tag(root: Path = ROOT) -> str:
    digest = hashlib.sha256()
    for path in context_files(root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return f"{REPOSITORY}:ctx-{digest.hexdigest()[:16]}"


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False)


def image_exists(ref: str) -> bool:
    return _run("buildah", *STORAGE, "inspect", "--type", "image", ref).returncode == 0


def _checked(*argv: str, log: Path | None = None) -> None:
    """Run a build command; its long output goes to `log`, shown (the end of it) only if it fails."""
    print("+", " ".join(argv), flush=True)
    if log is None:
        subprocess.run(argv, check=True)
        return
    with log.open("w") as out:
        done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        print("".join(log.read_text().splitlines(keepends=True)[-40:]), file=sys.stderr)
        raise SystemExit(f"the image build failed (exit {done.returncode}); the whole log is {log}")


def build_base() -> None:
    """A Debian bookworm root made from Debian packages, imported as the Dockerfile's BASE_IMAGE."""
    with tempfile.TemporaryDirectory() as scratch:
        tarball = str(Path(scratch) / "debian-base.tar")
        _checked(
            "mmdebstrap", "--quiet", "--variant=minbase", "--include=ca-certificates", "bookworm", tarball
        )
        _checked("podman", *STORAGE, "import", "--quiet", tarball, BASE_IMAGE)


def build(ref: str) -> None:
    if not image_exists(BASE_IMAGE):
        build_base()
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        # The build reads a copy of the files the tag hashes: what is built is what the tag says,
        # even while the checkout changes.
        context = Path(scratch) / "context"
        for path in context_files():
            target = context / path.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        # pip in the build trusts this machine's CAs (a CI machine's egress proxy may re-sign TLS):
        # mounted for the build's RUN steps only, never copied into a layer.
        pip_conf = Path(scratch) / "pip.conf"
        pip_conf.write_text(f"[global]\ncert = {HOST_CA_BUNDLE}\n")
        common = [
            "podman", *STORAGE, "build", "--isolation", "chroot", "--format", "docker", "--layers",
            "--volume", f"{HOST_CA_BUNDLE}:{HOST_CA_BUNDLE}:ro", "--volume", f"{pip_conf}:/etc/pip.conf:ro",
            "--build-arg", f"BASE_IMAGE={BASE_IMAGE}",
        ]  # fmt: skip
        # The build stage gets a tag of its own so that pruning keeps its layers as a cache.
        _checked(*common, "--target", "build", "--tag", BUILD_STAGE, str(context), log=LOG_DIR / "build.log")
        # --format docker keeps HEALTHCHECK (OCI images have none); chroot isolation needs no namespaces.
        _checked(*common, "--tag", ref, str(context), log=LOG_DIR / "build.log")
    # Older builds go (a vfs layer is a whole copy), and the layers only they used.
    listed = _run("buildah", *STORAGE, "images", "--format", "{{.Name}}:{{.Tag}}")
    for old in listed.stdout.split():
        if old.startswith(f"{REPOSITORY}:") and old != ref:
            _run("buildah", *STORAGE, "rmi", old)
    _run("podman", *STORAGE, "image", "prune", "--force")
    print(f"built {ref}")


def main(argv: list[str]) -> int:
    ref = content_tag()
    if argv == ["tag"]:
        print(ref)
    elif argv == ["build"]:
        if image_exists(ref):
            print(f"{ref} is up to date")
        else:
            build(ref)
    else:
        print("usage: python -m tests.packaging.image {tag,build}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
