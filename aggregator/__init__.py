"""Turns stored readings into national-standard indicators (standards code is pure, no I/O)."""
