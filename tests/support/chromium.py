"""Debian's Chromium, as the dashboard's browser tests and bench case (l) start it through Playwright
(which never downloads a browser of its own here)."""

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
# Never let the browser reach out on its own (updates, metrics) or need a GPU or a sandbox here.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
