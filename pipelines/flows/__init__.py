"""Prefect flows. Importing them makes the temporary Prefect server die with this process
(``pipelines.runtime.server_lifetime``)."""

from pipelines.runtime import server_lifetime

server_lifetime.install()
