//! Raw trace format (being built; owned by the recorder work).
