//! The one outbound gate (docs/optout.md#the-outbound-gate): every path
//! that dials or texts a number (`call --to`, `sms send`, `schedule
//! call|sms`, AgentPhone, poll's retries, connect's SMS replies; and any
//! path added later, such as a batch or an MCP server) passes the number
//! through [`check`] (or one loaded [`Gate`] for many numbers) before it
//! builds the request. `tests/optout.rs` lists every such request.
//!
//! It validates the number ([`crate::validate::phone`]: E.164, never an
//! emergency or short number) and then refuses a number on the opt-out list
//! ([`crate::state::optout`]) with [`Error::Usage`] (exit 2, nothing sent),
//! saying why and how to take it off the list. The one exception, a reply
//! confirming a STOP, is connect's and never comes here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::state::optout::{OptOut, OptOutList};
use crate::validate;

/// Validate `number` (named `number_arg` in messages) and refuse it when it
/// has opted out of the data directory `data_dir`'s list; the E.164 number
/// to send to otherwise. Reads the list once (blocking: async code calls
/// [`check_async`] or loads a [`Gate`] on the blocking pool).
pub fn check(number_arg: &str, number: &str, data_dir: &Path) -> Result<String> {
    validate::phone(number_arg, number)?;
    Gate::load(Some(data_dir))?.check(number_arg, number)
}

/// [`check`] on tokio's blocking pool; no data directory (no home
/// directory) means no list, so only the number is checked.
pub async fn check_async(number_arg: &str, number: &str, data_dir: Option<PathBuf>) -> Result<String> {
    validate::phone(number_arg, number)?;
    let (arg, number) = (number_arg.to_string(), number.to_string());
    crate::task::blocking(move || Gate::load(data_dir.as_deref())?.check(&arg, &number)).await
}

/// The opt-out list read once, to check many numbers (a batch, a poll).
#[derive(Debug, Clone, Default)]
pub struct Gate {
    opted_out: BTreeMap<String, OptOut>,
}

impl Gate {
    /// Read the list of `data_dir` (none: an empty list). A list that
    /// cannot be read or parsed is an error (exit 5): fail closed.
    pub fn load(data_dir: Option<&Path>) -> Result<Gate> {
        let opted_out = match data_dir {
            Some(d) => OptOutList::in_dir(d).read()?,
            None => BTreeMap::new(),
        };
        Ok(Gate { opted_out })
    }

    /// [`Gate::load`] on tokio's blocking pool.
    pub async fn load_async(data_dir: Option<PathBuf>) -> Result<Gate> {
        crate::task::blocking(move || Gate::load(data_dir.as_deref())).await
    }

    /// Validate `number` and refuse it when it opted out: see [`check`].
    pub fn check(&self, number_arg: &str, number: &str) -> Result<String> {
        let n = validate::phone(number_arg, number)?;
        match self.opted_out(&n) {
            Some(o) => Err(refusal(number_arg, o)),
            None => Ok(n),
        }
    }

    /// The entry of an already validated number, when it opted out.
    pub fn opted_out(&self, number: &str) -> Option<&OptOut> {
        self.opted_out.get(number.trim())
    }

    /// Nothing is on the list.
    pub fn is_empty(&self) -> bool {
        self.opted_out.is_empty()
    }
}

/// Why a number is refused, and how to take it off the list.
fn refusal(number_arg: &str, o: &OptOut) -> Error {
    let how = match o.source.as_str() {
        crate::state::optout::SOURCE_SMS_STOP => "it texted STOP".to_string(),
        _ if o.reason.is_empty() => "it was added with `clawdtalk optout add`".to_string(),
        _ => format!("reason: {}", crate::redact::sanitize_for_terminal(&o.reason)),
    };
    let since = if o.at.is_empty() { String::new() } else { format!(" since {}", o.at) };
    Error::usage(format!(
        "{number_arg}: {} has opted out ({how}){since}; clawdtalk never calls or texts it. Nothing was sent. \
         Only if the person asked to be contacted again: `clawdtalk optout remove {}`",
        o.number, o.number
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::optout::{SOURCE_CLI, SOURCE_SMS_STOP};

    fn add(dir: &Path, number: &str, source: &str) {
        let now = "2026-01-05T15:00:00Z".parse().unwrap();
        OptOutList::in_dir(dir).add(OptOut::new(number, "no calls", source, now)).unwrap();
    }

    #[test]
    fn an_opted_out_number_is_refused_with_exit_2_and_the_way_back() {
        let dir = tempfile::tempdir().unwrap();
        add(dir.path(), "+15005550006", SOURCE_SMS_STOP);
        let e = check("--to", " +15005550006 ", dir.path()).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let msg = e.to_string();
        assert!(msg.contains("--to: +15005550006 has opted out (it texted STOP)"), "{msg}");
        assert!(msg.contains("clawdtalk optout remove +15005550006"), "{msg}");
        assert_eq!(check("--to", "+15005550007", dir.path()).unwrap(), "+15005550007");
    }

    #[test]
    fn the_number_is_validated_before_the_list_is_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(crate::state::optout::FILE_NAME), b"broken").unwrap();
        assert!(check("TO", "911", dir.path()).unwrap_err().to_string().contains("emergency"));
        // A list that cannot be read refuses every send (exit 5).
        assert_eq!(check("TO", "+15005550006", dir.path()).unwrap_err().exit_code(), 5);
    }

    #[test]
    fn a_loaded_gate_checks_many_numbers_and_no_data_dir_is_an_empty_list() {
        let dir = tempfile::tempdir().unwrap();
        add(dir.path(), "+15005550006", SOURCE_CLI);
        let gate = Gate::load(Some(dir.path())).unwrap();
        assert!(gate.check("phone", "+15005550006").unwrap_err().to_string().contains("reason: no calls"));
        assert!(gate.check("phone", "+15005550008").is_ok());
        assert!(Gate::load(None).unwrap().check("phone", "+15005550006").is_ok());
    }
}
