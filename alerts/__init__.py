"""Alert rules, episodes and their delivery (see docs/alerts.md and docs/alerts-delivery.md)."""
