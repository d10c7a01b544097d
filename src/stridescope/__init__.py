"""stridescope."""
