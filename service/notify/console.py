"""The ``console://`` apprise scheme: alerts printed on standard output.

Registered through apprise's own ``@notify`` decorator (its supported way to
add a scheme), so the example configuration alerts with no credentials.
"""

from __future__ import annotations

import sys
from typing import Any

from apprise.decorators import notify
from apprise.manager_plugins import NotificationManager

_RULE = "─" * 72


@notify(on="console", name="Console (standard output)", body_format="text")  # type: ignore[untyped-decorator,no-untyped-call]
def print_to_console(body: str, title: str, notify_type: Any, *args: Any, **kwargs: Any) -> bool:
    print(f"{_RULE}\n{title}\n{_RULE}\n{body}\n", file=sys.stdout, flush=True)
    return True


# A plugin made by @notify inherits apprise's 5.5 s between requests (meant for
# remote services): printing needs none, and a burst of alerts would otherwise
# be paced out over minutes.
NotificationManager()["console"].request_rate_per_sec = 0  # type: ignore[no-untyped-call]
