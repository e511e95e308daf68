"""Personal data in audit events: which fields, keyed commitments to them,
and the data-subject request model. Pure: no I/O, keys and time passed in."""
