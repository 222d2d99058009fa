"""The daemon seen from another process: find it, start it, talk to it.

`discovery` reads (and the daemon writes) the file that says where the daemon listens;
`state_lock` is the lock one daemon holds on its state dir; `launcher` starts and stops a
detached daemon; `DaemonClient` calls its HTTP API, whose bodies are the models of
`parallelai.wire`. The command line, the MCP relay and the language server reach the daemon
only through here; nothing here imports the server.
"""
