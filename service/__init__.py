"""newswatch: asynchronous news monitoring and alerting.

The package is the product's body: configuration, the pure core (normalise,
match, route, render), storage, the poller, the notifier and the CLI.
`workers/` holds only the Celery wiring around it.
"""

__version__ = "0.1.0"
PROJECT_URL = "https://github.com/newswatch/newswatch"
USER_AGENT = f"newswatch/{__version__} (+{PROJECT_URL})"
