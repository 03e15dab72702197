"""Tables and plots built from results (matplotlib is imported lazily, inside the functions that draw)."""
