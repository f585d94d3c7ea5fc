//! HAKMEM Workbench reports: the result model written by the replayer ([`model`]), and (to come) summaries
//! and exporters.
#![deny(missing_docs)]

pub mod model;
