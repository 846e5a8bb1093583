"""Human review of disputed solutions in Argilla: ``push`` sends them (highest priority first),
``pull`` stores reviewers' responses in the lake's ``reviews`` table, ``server`` runs a local
Argilla for development and tests. See docs/review.md."""
