//! The mission lifecycle behind `clawdtalk poll`: [`engine`] decides (pure),
//! the executor fetches and applies.

pub mod engine;
pub mod pace;
pub mod record;
