"""The legal-time kernel shared by incidents, disclosures and retention:
deadline arithmetic on calendars and time zones, and requests to preserve data."""
