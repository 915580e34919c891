"""What outlives a call: the call store and its writer, caller history, recordings on
disk, retention, repair after a crash, and seeding the sample business data."""
