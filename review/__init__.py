"""The managers' web pages: calls after the fact (list, filters, audio, transcript, sentiment,
tags, notes, exports, dashboard), the live console and the call-back list. Review reads the
store's tables and public read functions (`voice.store`) and the recordings; it never touches
a call except through the supervisors' command queue."""
