"""Talking to model APIs over HTTP: the helpers the API engines share, and each provider's wire format.

- `errors`: HTTP statuses to error kinds and the provider's requested wait (also used by the CLI
  engines, which report the status their CLI got);
- `pool`: one pooled HTTP client per engine;
- `gating`: each request waits on its provider account's rate gate (`parallelai.ratelimits`) and
  reports its response there;
- `sse`: server-sent events read from a stream of lines;
- `openai_wire`: Chat Completions chunks and Responses API events (openai);
- `anthropic_stream`, `anthropic_errors`: the Messages API's events and failures (anthropic, and
  claude-code, whose CLI reports the same API errors).

Token prices (`_pricing`), secret redaction (`_redaction`) and per-task settings (`_settings`) serve
both families and stay at the top of `parallelai.engines`.
"""
