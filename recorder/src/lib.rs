//! libhakmem_recorder.so (being built; see issue 3).
