"""Running parallelai inside CI systems (the GitHub Action's logic lives in `github_action`)."""
