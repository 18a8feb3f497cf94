#!/usr/bin/env bash
# The main job, short: a real pruned search over small CNNs on Fashion-MNIST (about 5 minutes,
# 20,000 training images, the training recipe searched too), stored in the embedded SQLite file,
# then the best trial exported (retrained twice on all 60,000 images), evaluated once on the test
# set, and shown beside the seed reports' models. Safe to run twice: the second run resumes the
# study, which already has its trials, and redoes the export.
set -euo pipefail
source "$(dirname "$0")/setup.sh"
out="${FMNIST_QUICKSTART_OUT:-quickstart}"
bash "$(dirname "$0")/data.sh"
# --timeout ends the search after 5 minutes on any machine (a faster one runs more of the 12 trials).
fmnist-search start --space spaces/examples/quickstart.toml --study quickstart-cnn --trials 12 --timeout 300 --epochs 3 --subset 20000 --seed 0
fmnist-search status --study quickstart-cnn
fmnist-search export --study quickstart-cnn --repeats 2 --out "$out"
fmnist-search evaluate "$(ls -td "$out"/exports/quickstart-cnn-* | head -n 1)"
fmnist-search leaderboard
