"""The estimators' tests need the [sklearn] extra; without it they skip.

scikit-learn's array-API check runs only when SciPy's array API is switched on, and SciPy reads
the switch when it is first imported, so it is set here, before any test imports it.
"""

import os

os.environ.setdefault("SCIPY_ARRAY_API", "1")
