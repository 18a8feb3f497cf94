#!/usr/bin/env bash
# Build device-bundle/ (git-ignored): the Python 3.12 manylinux x86-64 wheels the GPU machine's
# image lacks and the four Fashion-MNIST files, under 64 MiB with the tracked files; then print
# the commands that run the GPU campaign there (python -m bench.gpu). Extra arguments go to
# python -m bench.device_bundle (--out FOLDER, --data-dir DIR).
source "$(dirname "$0")/setup.sh"
python -m bench.device_bundle "$@"
