"""DINAMIS members' web portal."""
