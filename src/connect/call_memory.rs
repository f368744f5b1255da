//! A small per-call memory for the connect handler (who is on a call,
//! whether it was greeted): forgotten on `call.ended` and bounded.

use std::collections::{HashMap, VecDeque};

/// A small per-call memory, forgotten on `call.ended` and bounded (the
/// oldest call goes first) in case a server never sends it.
pub(super) struct CallMemory<V> {
    map: HashMap<String, V>,
    order: VecDeque<String>,
}

impl<V> Default for CallMemory<V> {
    fn default() -> Self {
        CallMemory { map: HashMap::new(), order: VecDeque::new() }
    }
}

impl<V> CallMemory<V> {
    const MAX: usize = 4096;

    /// Remember `value` for `call_id` unless the call is known; `true` when it was new.
    pub(super) fn remember(&mut self, call_id: &str, value: V) -> bool {
        if self.map.contains_key(call_id) {
            return false;
        }
        if self.order.len() >= Self::MAX {
            if let Some(oldest) = self.order.pop_front() {
                self.map.remove(&oldest);
            }
        }
        self.map.insert(call_id.to_string(), value);
        self.order.push_back(call_id.to_string());
        true
    }

    pub(super) fn get(&self, call_id: &str) -> Option<&V> {
        self.map.get(call_id)
    }

    pub(super) fn forget(&mut self, call_id: &str) {
        if self.map.remove(call_id).is_some() {
            self.order.retain(|c| c != call_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_remembered_once_forgotten_on_request_and_bounded() {
        let mut g = CallMemory::<()>::default();
        let max = CallMemory::<()>::MAX;
        assert!(g.remember("c1", ()));
        assert!(!g.remember("c1", ()));
        g.forget("c1");
        assert!(g.remember("c1", ()), "a forgotten call is new again");
        for i in 0..max {
            g.remember(&format!("x{i}"), ());
        }
        assert_eq!(g.map.len(), max);
        assert_eq!(g.order.len(), max);
        assert!(g.remember("c1", ()), "the oldest call was dropped to stay within the bound");
        assert!(!g.remember(&format!("x{}", max - 1), ()), "recent calls are kept");
    }
}
