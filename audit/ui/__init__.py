"""The web console under ``/ui``: server-rendered pages over the API's services.

See docs/console.md. Pages are allowed and audited by the API's route table
(audit/api/access.py), so a page shows what the matching API request would.
"""
