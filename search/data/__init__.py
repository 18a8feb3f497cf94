"""Fashion-MNIST: where the four IDX files are found (or downloaded), how they are checked and cached,
the fixed split."""
