"""How flows are run: ``deploy`` registers and serves them on a schedule (above the flows, it
imports them); ``runtime`` is what a running command or flow uses (progress, stop signals, the
temporary Prefect server's lifetime), below everything else in pipelines/."""
