"""The grid and the customers on it: zones, transformer areas, concentrators, service points,
customers, accounts and meters with their installation history."""
