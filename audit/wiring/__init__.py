"""Composition: services built over their adapters from settings.

Used by every entry point (the CLI, the consumers, the API), so that none
of them imports another's modules to get a service.
"""
