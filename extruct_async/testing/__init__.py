"""An embedded Extruct Deep Search simulator (work in progress)."""
