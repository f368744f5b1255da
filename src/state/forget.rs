//! `clawdtalk forget NUMBER` in the state file
//! (docs/optout.md#forgetting-a-number): every occurrence of the number in
//! every mission, active or archived (its scheduled-event records, targets,
//! AgentPhone records, any memory value or key), is replaced by its masked
//! form, so counts and outcomes stay while the number is gone.
//!
//! A number poll is still following (an unsettled record) is refused: the
//! record is how poll finds the call on the service, and a masked record
//! could never be finished. Cancel or finish those first.

use serde::Serialize;
use serde_json::{Map, Value};

use super::model::State;
use crate::error::{Error, Result};
use crate::redact::erase_number;

/// What was erased from the state file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StateErased {
    /// Missions (active or archived) that named the number.
    pub missions: usize,
    /// Values and keys replaced.
    pub values: usize,
}

/// Replace `number` by `masked` everywhere in `v`; how many times.
fn erase_value(v: &mut Value, number: &str, masked: &str) -> usize {
    match v {
        Value::String(s) => {
            let (new, n) = erase_number(s, number, masked);
            if n > 0 {
                *s = new;
            }
            n
        }
        Value::Array(items) => items.iter_mut().map(|i| erase_value(i, number, masked)).sum(),
        Value::Object(map) => erase_map(map, number, masked),
        _ => 0,
    }
}

fn erase_map(map: &mut Map<String, Value>, number: &str, masked: &str) -> usize {
    let mut n = 0;
    let keys: Vec<String> = map.keys().cloned().collect();
    for k in keys {
        let (new_key, hits) = erase_number(&k, number, masked);
        if hits > 0 {
            // A masked key can meet another masked key: keep both values.
            if let Some(v) = map.shift_remove(&k) {
                let mut key = new_key;
                while map.contains_key(&key) {
                    key.push('*');
                }
                map.insert(key, v);
            }
            n += hits;
        }
    }
    for v in map.values_mut() {
        n += erase_value(v, number, masked);
    }
    n
}

/// Erase `number` (E.164) from every mission of `state`, or refuse (exit 2,
/// nothing changed) while poll still follows a call or SMS to it.
pub fn forget_number(state: &mut State, number: &str, masked: &str) -> Result<StateErased> {
    let following: Vec<String> = state
        .missions()
        .filter(|(_, m)| m.scheduled_events().iter().any(|r| !r.settled && r.to == number))
        .map(|(slug, _)| slug.to_string())
        .collect();
    if !following.is_empty() {
        return Err(Error::usage(format!(
            "{masked}: poll is still following events to this number in mission(s) {}; nothing was erased. \
             Cancel them (`clawdtalk mission cancel SLUG --pending-only`, or opt the number out and run \
             `clawdtalk poll`) or let them finish, then forget the number",
            following.join(", ")
        )));
    }
    let active: Vec<String> = state.missions().map(|(k, _)| k.to_string()).collect();
    let archived: Vec<String> = state.archived().map(|(k, _)| k.to_string()).collect();
    let mut erased = StateErased::default();
    let mut count = |n: usize| {
        if n > 0 {
            erased.missions += 1;
            erased.values += n;
        }
    };
    for slug in active {
        if let Some(m) = state.mission_mut(&slug) {
            count(erase_map(&mut m.fields, number, masked));
        }
    }
    for key in archived {
        if let Some(m) = state.archived_mission_mut(&key) {
            count(erase_map(&mut m.fields, number, masked));
        }
    }
    Ok(erased)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const N: &str = "+15005550006";
    const M: &str = "+1 ***0006";

    fn state(v: Value) -> State {
        State::from_json(v.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn every_mission_active_and_archived_loses_the_number_and_other_numbers_stay() {
        let mut st = state(json!({
            "roof": {"mission_id": "m1", "memory": {
                "scheduled_events": [{"event_id": "e1", "to": N, "status": "completed", "settled": true},
                                     {"event_id": "e2", "to": "+15005550004", "status": "completed", "settled": true}],
                "targets": [{"phone": N, "name": "Bob"}],
                "notes": format!("Bob said call back on {N} or 15005550006"),
                N: {"quote": 120}}},
            "_archive": {"m0": {"mission_id": "m0", "memory": {"agentphone_calls": [{"to_phone_number": N}]}}}
        }));
        let e = forget_number(&mut st, N, M).unwrap();
        assert_eq!(e, StateErased { missions: 2, values: 6 });
        let text = String::from_utf8(st.to_json_bytes()).unwrap();
        assert!(!text.contains("5005550006"), "{text}");
        assert!(text.contains("+15005550004"), "other numbers untouched");
        let roof = st.mission("roof").unwrap();
        assert_eq!(roof.memory_get(M).unwrap(), &json!({"quote": 120}), "a key is masked, its value kept");
    }

    #[test]
    fn a_number_poll_still_follows_is_refused_and_nothing_changes() {
        let v = json!({"roof": {"mission_id": "m1", "memory": {
            "scheduled_events": [{"event_id": "e1", "to": N, "status": "pending"}]}}});
        let mut st = state(v.clone());
        let e = forget_number(&mut st, N, M).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("roof"), "{e}");
        assert_eq!(st, state(v));
    }
}
