"""The utility's holiday calendar: its own list, year by year, over the built-in one."""
