"""pytest fixtures for the embedded Extruct simulator (work in progress)."""
