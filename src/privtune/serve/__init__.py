"""privtune.serve: the OpenAI-compatible gateway (docs/serve.md).

Modules: ``app`` (the ASGI gateway), ``filter`` + ``holdback`` (output filter, streaming
hold-back), ``apikeys`` (keys, rate limits), ``ratelimit`` (the rate-limit table worker
processes share), ``aliases`` (the ``AliasResolver`` protocol the
registry implements), ``reqlog`` (hash-chained request log, signed heads), ``store`` (SQLite /
PostgreSQL), ``upstream`` (HTTP upstream, embedded transformers), ``httpclient`` (the
keep-alive HTTP/1.1 client under it), ``server`` (build from privtune.yaml, run uvicorn),
``stub`` (a stub upstream for tests and bench).
"""
