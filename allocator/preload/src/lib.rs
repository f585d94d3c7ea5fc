//! libhakmem.so (being built; see issue 4).
