"""The data contract: what goes in and what is stored.

What must live here: reading domain lists (``inputs``), the Parquet table schemas
(``schema``), judged facts turned into table rows (``rows``) and the streaming,
checkpointed Parquet writer (``sink``). Imports point down to ``scanner.core`` only
(``scanner/store/ruff.toml``); nothing here talks to the network.
"""
