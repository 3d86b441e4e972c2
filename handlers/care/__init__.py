"""Care: noticing members in distress. The detector (``handlers.care.detector``) reads one message
offline; the feature built on it lives beside it."""
