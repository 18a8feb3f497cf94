#!/usr/bin/env bash
# The main job, short: a real pruned search over dense networks on Fashion-MNIST, stored in
# the embedded SQLite file, then the best trial exported (retrained on all 60,000 images),
# evaluated once on the test set, and shown beside the seed reports' models. Safe to run twice:
# the second run resumes the study, which already has its trials, and redoes the export.
set -euo pipefail
source "$(dirname "$0")/setup.sh"
out="${FMNIST_QUICKSTART_OUT:-quickstart}"
bash "$(dirname "$0")/data.sh"
fmnist-search start --space dense --study quickstart-dense --trials 8 --epochs 5 --subset 20000 --seed 0 --warm-start seeds
fmnist-search status --study quickstart-dense
fmnist-search export --study quickstart-dense --repeats 2 --out "$out"
fmnist-search evaluate "$(ls -td "$out"/exports/quickstart-dense-* | head -n 1)"
fmnist-search leaderboard
