"""Prefect flows. Importing them makes the temporary Prefect server die with this process
(``pipelines.server_lifetime``)."""

from pipelines import server_lifetime

server_lifetime.install()
