"""Graph -> Graph passes; ``pipeline.PIPELINE`` is the ordered list."""
