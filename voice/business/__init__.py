"""The business's data (orders, accounts, cards, appointments) and the look-ups and actions the
agent may perform on it, one module per line: `customers`, `orders` (and returns), `banking`
(accounts and cards), `clinics` (appointments). `Business` puts the lines together.

Results are records and `ActionResult`s (`records`) carrying typed facts and reason codes, never
sentences: what the caller hears is worded by `voice.dialogue`. The tables are in
`voice.store.schema`, the identifiers' normalisers in `voice.store.identifiers`.
"""

from voice.business.service import Business

__all__ = ["Business"]
