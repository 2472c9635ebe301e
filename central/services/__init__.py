"""Business logic of the central service. Services take a Session (and a Clock), raise
:mod:`central.errors` domain errors, and commit their own writes."""
