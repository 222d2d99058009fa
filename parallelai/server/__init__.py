"""The daemon and what it serves: HTTP API with SSE (http/), discovery, auth, and its client."""
