"""The Optuna engine: worker processes that claim a budget slot, train one sampled model, and record it."""
