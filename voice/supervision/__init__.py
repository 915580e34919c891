"""A live call's side of the supervisors' console, on the worker holding the call: the call
watcher that carries out managers' commands (`console.py`), the live row kept current
(`reporter.py`) and listen-in audio fanned out to managers (`listen.py`)."""
