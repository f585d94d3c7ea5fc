//! HAKMEM allocator (being built; see issue 4).
#![deny(missing_docs)]
