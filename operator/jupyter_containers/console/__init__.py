"""The web console: the manual's pages, served as the signed-in user (see docs/console.md)."""
