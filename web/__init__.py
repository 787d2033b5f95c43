"""What people look at: the HTTP JSON API and the status page (docs/web.md)."""
