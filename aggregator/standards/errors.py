"""The one exception of the standards library."""


class StandardsError(ValueError):
    """An input the standards do not define (unknown pollutant, zone, negative value, ...)."""
