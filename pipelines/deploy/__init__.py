"""Scheduled deployments of the flows: the flow table, registration, serving, run listing."""
