//! Tests of this area (being built).
