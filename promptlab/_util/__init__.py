"""Small helpers shared by every subpackage (private)."""
