"""The language server: parallelai's runs, events, progress and findings for VS Code and any LSP client."""

from parallelai.server.lsp.server import ParallelAILanguageServer, build_language_server

__all__ = ["ParallelAILanguageServer", "build_language_server"]
