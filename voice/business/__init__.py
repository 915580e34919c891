"""The business's data (orders, accounts, cards, appointments) and the look-ups and
actions the agent may perform on it."""
