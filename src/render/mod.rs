//! Rendering a plan for people.

pub mod text;
