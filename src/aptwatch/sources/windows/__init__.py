"""Shared machinery of the Windows sources: the event mapping (as data), the columnar builder that
applies it, and the readers of evtx-rendered JSON, flat exports, JSON layouts and event XML."""
