"""`chainrule playground`: train a small network in the browser and click any weight to see
its chain-rule derivation (docs/playground.md).

session.py holds one user's session and needs nothing beyond chainrule's core; server.py serves
the page and a WebSocket per tab on Starlette and uvicorn, the optional `[playground]` extra.
Importing this package imports neither.
"""
