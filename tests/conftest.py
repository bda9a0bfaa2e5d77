"""Test-wide settings: hypothesis explores freely on a developer's machine, but CI (CI=true)
replays a fixed set of examples, so a CI run can never fail by chance."""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
