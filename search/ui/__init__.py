"""What people see: the console, the live display and log lines, status tables, trial reports, the dashboard."""
