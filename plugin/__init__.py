"""The kubectl plugin as it is released for krew (krew.py)."""
