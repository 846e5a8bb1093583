"""Answer styles of the LLM annotators: one module per style, each owning its prompt template's
name, the tags its prompt wraps user text in, its verdict block's shape and longest form (the
token budget) and its parser (annotators/styles/base.py says what a style is)."""
