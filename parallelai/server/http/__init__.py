"""The daemon's HTTP surface: JSON API, SSE streams and the OpenAPI document over one service."""
