"""Wire protocols the head-end speaks to meters and concentrators (DL/T 645-2007 first)."""
