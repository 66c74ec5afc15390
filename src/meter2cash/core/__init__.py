"""Settings, clock, money, units, time zones and errors. Imports nothing else of ours."""
