//! Rendering a plan for people.

pub mod markdown;
pub mod text;
