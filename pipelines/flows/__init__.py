"""Prefect flows. Importing them makes the temporary Prefect server die with this process
(``pipelines.orchestration.runtime.server_lifetime``)."""

from pipelines.orchestration.runtime import server_lifetime

server_lifetime.install()
