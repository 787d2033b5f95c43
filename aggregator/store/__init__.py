"""The aggregator's database side: the work queue, loading readings, writing indicator rows."""
