"""The `candlecast` commands, one module each; `cli/main.py` registers them on the app."""
