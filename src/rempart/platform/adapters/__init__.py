"""Platform adapters: connectors that pull a messaging server's records into Rempart through
the same ingest service as ``POST /v1/ingest/events``, and carry Rempart's decisions back
to the server. Matrix (Synapse) is the first; see ``matrix/``."""
