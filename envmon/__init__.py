"""envmon: environmental monitoring telemetry, indicators and alerts.

Core pieces shared by every step of the pipeline live here: settings, the database
schema and its migrations, the station registry, the parameter catalogue and the CLI.
"""

__version__ = "0.1.0"
