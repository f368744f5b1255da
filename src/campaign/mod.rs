//! Campaigns (docs/campaigns.md): `schedule batch` turns a file of targets
//! into paced calls or SMS inside each callee's calling window, each target
//! scheduled exactly once per mission, step, channel and number.
//!
//! - [`targets`]: the file's rows, number checks, zone inference;
//! - [`zones`]: country → zones from the IANA `zone1970.tab`;
//! - [`window`]: windows, days and slot placement (pure);
//! - [`plan`]: targets → paced slots, skip reasons, caps (pure);
//! - [`profile`]: retry profiles: when a failed attempt is tried again (pure);
//! - [`record`]: a target as recorded in the mission's memory (`targets`);
//! - [`batch`]: running a batch (claim, adopt, create, record);
//! - [`report`]: the plan and result for people and `--json`;
//! - [`control`]: `mission pause` and `mission resume`;
//! - [`retry`]: `mission retry --failed`, reopening an archived mission;
//! - [`status`]: counts by effective state, the next slot, [`status::may_call_again`].

pub mod batch;
pub mod control;
pub mod plan;
pub mod profile;
pub mod record;
pub mod report;
pub mod retry;
pub mod status;
pub mod targets;
pub mod window;
pub mod zones;
