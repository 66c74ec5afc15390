"""Head-end: collecting reads from meters and concentrators, and the record of every collection."""
