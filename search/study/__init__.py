"""A study: its saved settings (space, epochs, sampler, pruner, budget) and its name."""
