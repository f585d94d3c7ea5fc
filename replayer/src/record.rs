//! `hakmem record`: run a program under the recorder (being built; owned by the recorder work).
