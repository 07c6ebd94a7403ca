"""Operations: backup and restore of the whole platform (database and media).

Sits above the apps: its services read annotation's and benchmark's tables and run
annotation's tally verification; no app imports it."""
