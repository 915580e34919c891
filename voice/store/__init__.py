"""What outlives a call: every table (`schema.py`), the call store and its writer, stream
grants, callback requests, caller history, live call rows and supervisors' commands,
recordings on disk, retention, repair after a crash, and seeding the sample business data.
Identifiers (phone numbers, order numbers) are normalised in one place, `identifiers.py`."""
