#!/usr/bin/env bash
# The main job, short: a real pruned search over dense networks on Fashion-MNIST, stored in
# the embedded SQLite file, then a summary of what the store holds. Safe to run twice: the
# second run resumes the study, which already has its trials.
source "$(dirname "$0")/setup.sh"
fmnist-search data
fmnist-search start --space dense --study quickstart-dense --trials 8 --epochs 5 --subset 20000 --seed 0
fmnist-search status --study quickstart-dense
