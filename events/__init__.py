"""Lambda event files for every event source, generated from real photos (see generate.py)."""
