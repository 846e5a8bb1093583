"""What a running command or flow uses: progress bars, stop signals, the Prefect server's lifetime."""
