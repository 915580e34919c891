"""When and how a call goes to a person: sentiment, the escalation policy and its
training, the hand-over, and callback requests when a hand-over fails."""
