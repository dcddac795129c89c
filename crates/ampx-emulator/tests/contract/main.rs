//! The emulator against the documented behaviour of the Management API,
//! one file per resource, over one harness.

mod harness;

mod cohorts;
mod experiments;
mod faults;
mod groups;
mod lenient;
mod objects;
mod projects;
mod shapes;
