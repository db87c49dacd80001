"""The organizations slice's pages; each module has its own route list."""
