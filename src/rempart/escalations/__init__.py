"""Threats to life or safety (DSA Art. 18): a moderator escalates, a legal reviewer
confirms, the competent authority is notified."""
