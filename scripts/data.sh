#!/usr/bin/env bash
# Fashion-MNIST for the quick start and the tests: `fmnist-search data` finds it (Debian's package,
# FMNIST_DATA_DIR, the cache) or downloads it. Where that fails (no internet), Debian's
# dataset-fashion-mnist is installed when apt-get is there and this runs as root; otherwise the
# one command to run is printed. Extra arguments go to `fmnist-search data` (e.g. --data-dir DIR).
set -uo pipefail
package=dataset-fashion-mnist
if fmnist-search data "$@"; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "no apt-get here: fetch the four Fashion-MNIST IDX files elsewhere and give their folder with --data-dir DIR" >&2
    exit 1
fi
if [ "$(id -u)" != 0 ]; then
    echo "install the data offline with: sudo apt-get install $package   (then run this again)" >&2
    exit 1
fi
echo "installing Debian's $package (apt-get install -y $package)" >&2
apt-get install -y "$package" && fmnist-search data "$@"
