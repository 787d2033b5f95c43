"""Pure computation of indicators: datetimes, numpy arrays and the standards library; no database."""
