"""After the search: export the best trial, evaluate it once on the test set, seed baselines, the leaderboard."""
