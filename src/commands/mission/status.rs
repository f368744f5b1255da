//! `clawdtalk mission status SLUG`.

use crate::cli::mission::MissionStatusArgs;
use crate::error::Result;
use crate::ledger::report::mission_status;
use crate::lifecycle::api_service::ApiService;
use crate::output::Outcome;

use super::Context;

/// A mission at a glance: see [`mission_status`].
pub async fn run(ctx: &Context, a: MissionStatusArgs) -> Result<Outcome> {
    mission_status(&ctx.state()?, || ApiService::from_config(&ctx.config, None), &a.slug).await
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::testing::{parse, text, Harness};

    fn args(slug: &str) -> MissionStatusArgs {
        match parse(&["mission", "status", slug]) {
            crate::cli::Command::Mission(crate::cli::mission::MissionCommand::Status(a)) => a,
            other => panic!("not a mission status command: {other:?}"),
        }
    }

    #[tokio::test]
    async fn agentphone_calls_made_with_mission_are_shown() {
        let h = Harness::start().await;
        let now = h.ctx().now();
        h.ctx()
            .state()
            .unwrap()
            .update(move |st| {
                let calls = json!([
                    {"call_id": "ap_1", "provider": "agentphone", "to": "+15005550006", "status": "completed",
                     "outcome": "achieved", "summary": "Booked Tuesday 10am"},
                    {"call_id": "ap_2", "provider": "agentphone", "to": "+15005550001", "status": "failed",
                     "failure_reason": "busy"},
                ]);
                st.mission_or_create("dentist").memory_save(crate::ledger::agentphone::MEMORY_KEY, calls, now)
            })
            .unwrap();
        let o = run(&h.ctx(), args("dentist")).await.unwrap();
        assert!(h.service.requests().is_empty());
        let t = text(&o);
        assert!(t.contains("AGENTPHONE CALL  TO            STATUS     OUTCOME   SUMMARY"), "{t}");
        assert!(t.contains("ap_1             +15005550006  completed  achieved  Booked Tuesday 10am"), "{t}");
        assert!(t.contains("ap_2             +15005550001  failed     busy      -"), "{t}");
        assert!(!t.contains("no scheduled calls or SMS tracked"), "{t}");
        assert_eq!(o.data["agentphone_calls"][0]["call_id"], "ap_1");
        assert_eq!(o.data["agentphone_calls"][1]["failure_reason"], "busy");
    }
}
