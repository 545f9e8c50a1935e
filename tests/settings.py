"""The settings of a test run: the project's own, with Channels layer names of the run's own.

Redis's pub/sub channels are shared by all of its databases, so without a prefix of its
own a test's dashboard would hear the deltas of a demo running beside the suite. Set
here, before the project's settings read it, and inherited by the workers and daphne
that tests start (they load this module too: pytest-django exports it).
"""

import os
import uuid

os.environ.setdefault("CHANNEL_LAYER_PREFIX", f"test-{uuid.uuid4().hex[:8]}")

from trademonitor.settings import *  # noqa: F403
