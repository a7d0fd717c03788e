"""Behavioural analytics: one module per analytic, shared helpers in `common`."""
