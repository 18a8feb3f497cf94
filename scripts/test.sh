#!/usr/bin/env bash
# The test suite: installs the project and its test tools into .venv, makes sure the
# Fashion-MNIST files are at hand (Debian's package, the cache, or a checksummed download),
# then runs the fast tests. Extra arguments go to pytest (e.g. `-m slow`).
source "$(dirname "$0")/setup.sh"
bash "$(dirname "$0")/data.sh"
python -m pytest "$@"
