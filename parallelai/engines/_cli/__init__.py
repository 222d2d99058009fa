"""Running an assistant's CLI as a child process: the machinery the CLI engines share, and each CLI's wire format.

Shared by every engine that starts a program (claude-code, codex, gemini-cli, copilot, cursor, acp,
command):

- `child`: one child process driven straight from the event loop (pidfd, non-blocking pipes);
- `process`: `run_process` (own session, streamed lines, capped output) and the whole-tree kill;
- `common`: finding the binary, its version, a private home per attempt, failure results;
- `attempt`: one attempt of a CLI that gets a home (codex, gemini-cli, copilot): home, run, finish;
- `settings`: the settings fields every CLI engine accepts;
- `launch`: staggering the start of CLIs that share files at start-up.

What one CLI (or protocol) says on its stdout, parsed into typed models, used by that engine alone:
`claude_stream` and `claude_config` (claude-code), `cursor_stream` (cursor), `acp_protocol` and
`jsonrpc` (acp).

The engines themselves stay one public module each in `parallelai.engines`, where the
`parallelai.engines` entry points and users' imports name them.
"""
