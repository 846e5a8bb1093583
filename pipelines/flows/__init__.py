"""Prefect flows. Importing them makes the temporary Prefect server die with this process
(``pipelines.orchestration.server_lifetime``)."""

from pipelines.orchestration import server_lifetime

server_lifetime.install()
