"""Replaying call recordings: the staff pages and the `callcenter recordings` commands."""
