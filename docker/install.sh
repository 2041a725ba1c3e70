#!/bin/sh
# The one way the package is installed into the image. The Dockerfile runs this script, and so does
# the container install check in `make test` (tests/delivery/test_container_install.py), which is
# how "installs it exactly the way the image does" stays true without a Docker engine.
#
#   docker/install.sh deps VENV LOCKFILE   new virtualenv VENV with the locked dependencies only:
#                                          every file hash-checked, wheels only (no compiler needed)
#   docker/install.sh app  VENV SRC        the package at SRC into VENV without touching its
#                                          dependencies, then pip and setuptools removed from VENV
#
# Two steps so the Dockerfile caches the dependency layer until requirements.lock changes.
# pip's cache is its default one: the Dockerfile mounts a BuildKit cache there, so no cache ends
# up in a layer; on a developer machine it makes the check fast.
set -eu

usage() {
    echo "usage: $0 deps VENV LOCKFILE | app VENV SRC" >&2
    exit 2
}

[ "$#" -eq 3 ] || usage
step=$1
venv=$2
source=$3
python=${PYTHON:-python3}

case "$step" in
deps)
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --disable-pip-version-check --no-input \
        --require-hashes --only-binary=:all: --no-deps -r "$source"
    ;;
app)
    "$venv/bin/python" -m pip install --disable-pip-version-check --no-input --no-deps "$source"
    "$venv/bin/python" -m pip check
    # The runtime needs neither; without them nothing can be pip-installed into the running image.
    "$venv/bin/python" -m pip uninstall --disable-pip-version-check --no-input --yes pip setuptools
    ;;
*)
    usage
    ;;
esac
