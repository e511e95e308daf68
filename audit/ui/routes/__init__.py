"""The console's routes: one router per area, all under /ui (flat, like the API's)."""

from __future__ import annotations

from audit.ui.routes import auth, events, exports, holds, incidents, legal, orgs

ROUTERS = tuple(area.router for area in (auth, incidents, events, legal, exports, holds, orgs))
