"""The engine contract: what every engine does, stated once and run over each engine.

`test_contract.py` holds the sentences; `adapters.py` says, per engine, how to build it against
the scripted model server (tests/support/model_server), which dialect it speaks, how that
dialect scripts a tool call, a rate limit or an auth failure, and which sentences do not apply
and why (those show up as skips with the reason). The CLI engines run the real CLIs installed by
scripts/install-clis.sh; nothing is mocked.

Adding an engine: write its `Adapter` in `adapters.py` and add it to `ADAPTERS`. Per-engine test
files keep only what is specific to that engine.
"""
