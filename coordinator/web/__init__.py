"""Server-rendered pages (the full web UI arrives with its own issue)."""
