"""The process a trial runs in: devices and thread counts, quiet logs, memory between trials, signals."""
