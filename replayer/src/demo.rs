//! `hakmem demo`: the whole loop with defaults (being built; owned by the reports work).
