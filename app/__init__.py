"""Fleet telemetry pipeline: receiver, consumer, aggregator and simulator in one package.

One image, one console script (`telemetry`); each running part lives in its own sub-package and
builds its `Settings` in its own entry point, so importing anything here has no side effects.
"""

__version__ = "0.1.0"
