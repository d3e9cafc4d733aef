"""Fleet view: many VM hosts' audit reports merged into one (`vmguard report merge`)."""
