"""Context derived from events for the later stages: internal ranges and IP address -> host mapping."""
