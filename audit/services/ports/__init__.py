"""Ports: the small interfaces services talk to instead of client libraries.

One module per area; adapters in ``audit.adapters`` implement them, and
``tests/fakes`` holds an honest in-memory implementation of each.

- ``ingest``: event store, dead letters, detection feed, metrics;
- ``incidents``: incident, detection and disclosure stores, notifier, lease;
- ``integrity``: chain and digest stores;
- ``retention``: retention cluster, hold store, organization settings;
- ``events``: searching stored events, the API's access-event sink.
"""
