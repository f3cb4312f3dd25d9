"""`python -m app` (what `make run` does): the development server on loopback, at PORT (default 3010)."""

from . import create_app

app = create_app()
app.run(host="127.0.0.1", port=app.config["SETTINGS"].port)
