"""The Twilio edge: the web app and its routes, TwiML, signature and stream-token checks, call
control over Twilio's REST API, and the developers' side of a call: the simulator, `callcentre`
commands (`cli.py`), scripted evaluation and chat."""
