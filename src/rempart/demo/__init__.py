"""The demo: a synthetic platform, demo authorities with orders in every state, and demo
notices, seeded through the same services as real traffic (``rempart demo seed``). It sits
with the entry points because it drives every domain; no domain imports it."""
