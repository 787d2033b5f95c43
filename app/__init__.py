"""The composition root: the ``envmon`` command and ``envmon run``, the only package that
knows every component. Components import the ground floor (``envmon``), never this."""
