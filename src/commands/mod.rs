//! Command implementations: one module per noun (a folder with one file per
//! verb where a noun has many), each verb a function `(context, args) ->
//! Result<Outcome>`: arguments in, a library call, the outcome out. No HTTP
//! or file details here: those live in `api`, `state`, `ledger`,
//! `lifecycle`; printing lives in `output`. A command module never imports
//! another: what two commands share is library code (`ledger` for mission
//! bookkeeping) or `support`, and the legacy words are routed here onto
//! their noun-verb commands.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::agentphone::AgentPhone;
use crate::api::Client;
use crate::cli::{Cli, Command};
use crate::clock::{Clock, ServiceClock, SystemClock};
use crate::config::{Config, Overrides, ProcessEnv};
use crate::error::Result;
use crate::output::{Outcome, Printer, Progress};

pub use clients::{ClientFactory, FromConfig};

pub mod agent;
pub mod agentphone;
pub mod approval;
pub mod assistant;
pub mod call;
pub mod check_key;
mod clients;
pub mod connect;
pub mod demo;
pub mod docs;
pub mod event;
pub mod forget;
pub mod insights;
pub mod legacy;
pub mod mcp;
pub mod memory;
pub mod mission;
pub mod optout;
pub mod phone;
pub mod plan;
pub mod poll;
pub mod run;
pub mod sandbox;
pub mod schedule;
pub mod setup;
pub mod skill;
pub mod sms;
pub mod state;
pub mod status;
mod support;
pub mod tail;

#[cfg(test)]
mod tests;

/// Everything a command needs from its surroundings, resolved once. The
/// surroundings that reach outside the process (the clock, the services'
/// clients, the terminal) are handed in rather than looked up, so a test
/// can run a command against a fake service at a fixed time.
#[derive(Debug, Clone)]
pub struct Context {
    pub config: Config,
    /// The one printer (its `json` is `--json`). Commands return an
    /// [`Outcome`] for the binary to print; only those that print before they
    /// finish (a server's banner, the demo's transcript) use it themselves.
    pub printer: Printer,
    /// Where "now" comes from ([`Context::now`]): the service's clock for
    /// the binary (docs/protocol.md#service-clock).
    pub clock: Arc<dyn Clock>,
    /// The service clock behind `clock`, fed by every reply of
    /// [`Context::client`]'s clients (None: `clock` is all there is, as in
    /// unit tests at a fixed time).
    pub service_clock: Option<Arc<ServiceClock>>,
    /// How the service clients are built ([`Context::client`]).
    pub clients: Arc<dyn ClientFactory>,
    /// How a command that waits shows it is still waiting.
    pub progress: ProgressStyle,
    /// `--state FILE`, if given.
    pub state_override: Option<PathBuf>,
    /// `--config PATH` as given, even when the file does not exist yet (`setup` writes there).
    pub config_path: Option<PathBuf>,
    pub cwd: PathBuf,
    /// stdin and stderr are terminals (prompts and spinners allowed).
    pub interactive: bool,
    /// The event journal producers append to and `tail` reads
    /// (docs/journal.md); `None` without a home directory (or in tests
    /// that do not look at it).
    pub journal: Option<Arc<crate::journal::Journal>>,
    /// The user data directory (the opt-out list, docs/optout.md); `None`
    /// without a home directory.
    pub data_dir: Option<PathBuf>,
}

/// How [`Context::progress`] shows progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressStyle {
    /// A spinner (stderr is a terminal).
    Spinner,
    /// Plain stderr lines (logs, pipes).
    Lines,
    /// Nothing (tests).
    Hidden,
}

impl Context {
    /// Build the context from parsed arguments and the process environment,
    /// with the printer the binary prints through, the system clock and
    /// clients built from the configuration.
    pub fn from_cli(cli: &Cli, printer: Printer) -> Result<Context> {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let overrides = Overrides {
            api_key: cli.global.api_key.clone(),
            api_url: cli.global.api_url.clone(),
            config_path: cli.global.config.clone(),
        };
        let config = match Config::resolve(&overrides, &ProcessEnv, &cwd) {
            Ok(c) => c,
            // `setup` creates or repairs the config file (a missing --config
            // path is where it will write); `completions`, `man`, `skill` and
            // `demo` (which talks to its own sandbox) never read it.
            Err(crate::Error::Config(_) | crate::Error::File(_))
                if matches!(
                    cli.command,
                    Command::Setup(_)
                        | Command::Completions(_)
                        | Command::Man(_)
                        | Command::Skill(_)
                        | Command::Demo(_)
                ) =>
            {
                Config::resolve_with_file(&overrides, &ProcessEnv, None)?
            }
            Err(e) => return Err(e),
        };
        use std::io::IsTerminal;
        let stderr_terminal = std::io::stderr().is_terminal();
        let service_clock =
            Arc::new(ServiceClock::new(Arc::new(SystemClock), &config.api_url, ServiceClock::default_file()));
        Ok(Context {
            config,
            printer,
            clock: service_clock.clone(),
            service_clock: Some(service_clock),
            clients: Arc::new(FromConfig),
            progress: if stderr_terminal { ProgressStyle::Spinner } else { ProgressStyle::Lines },
            state_override: cli.global.state.clone(),
            config_path: cli.global.config.clone(),
            cwd,
            interactive: std::io::stdin().is_terminal() && stderr_terminal,
            journal: crate::journal::Journal::default_path().map(|p| Arc::new(crate::journal::Journal::at(p))),
            data_dir: crate::config::project_dirs().map(|d| d.data_dir().to_path_buf()),
        })
    }

    /// A progress indicator for a command that waits ([`ProgressStyle`]).
    pub fn progress(&self) -> Progress {
        match self.progress {
            ProgressStyle::Spinner => Progress::new(true, false),
            ProgressStyle::Lines => Progress::new(false, false),
            ProgressStyle::Hidden => Progress::hidden(),
        }
    }

    /// The ClawdTalk API client (a configuration error when no key is set).
    /// Its replies feed the service clock.
    pub fn client(&self) -> Result<Client> {
        let c = self.clients.clawdtalk(&self.config)?;
        Ok(match &self.service_clock {
            Some(sc) => c.with_clock(sc.clone()),
            None => c,
        })
    }

    /// Poll's view of the service ([`crate::lifecycle`]) on this context's
    /// clock, its client feeding the service clock.
    pub fn api_service(&self) -> Result<crate::lifecycle::api_service::ApiService> {
        Ok(crate::lifecycle::api_service::ApiService::new(
            self.client()?,
            self.clock.clone(),
            self.service_clock.clone(),
        ))
    }

    /// The AgentPhone client (a configuration error when no AgentPhone key is set).
    pub fn agentphone(&self, rate_limit_wait: Duration) -> Result<AgentPhone> {
        self.clients.agentphone(&self.config, rate_limit_wait)
    }

    /// Where the mission state file is (`--state` > `$CLAWDTALK_STATE_FILE`
    /// > `./.missions_state.json` if present > the user data dir).
    pub fn state_location(&self) -> Result<crate::state::Location> {
        crate::state::locate(self.state_override.as_deref(), &ProcessEnv, &self.cwd)
    }

    /// The mission state store at [`Context::state_location`].
    pub fn state(&self) -> Result<crate::state::StateStore> {
        Ok(crate::state::StateStore::open(self.state_location()?.path))
    }

    /// Append `entry` to the event journal, if there is one. Never fails
    /// (a journal that cannot be written is a warning, not a failed call);
    /// the file work runs on the blocking pool.
    pub async fn record(&self, entry: crate::journal::Entry) {
        self.record_all(vec![entry]).await;
    }

    /// Record several events to the journal in one append (one lock, one
    /// open), off the async runtime.
    pub async fn record_all(&self, entries: Vec<crate::journal::Entry>) {
        if let Some(j) = self.journal.clone() {
            let _ = tokio::task::spawn_blocking(move || j.append_all(entries)).await;
        }
    }

    /// The one outbound gate ([`crate::outbound`]): `number` validated and
    /// not on the opt-out list, or why not (exit 2, nothing sent).
    pub async fn outbound(&self, number_arg: &str, number: &str) -> Result<String> {
        crate::outbound::check_async(number_arg, number, self.data_dir.clone()).await
    }

    /// The opt-out list read once, for a command that checks many numbers.
    pub async fn gate(&self) -> Result<crate::outbound::Gate> {
        crate::outbound::Gate::load_async(self.data_dir.clone()).await
    }

    /// `daily_call_cap` and the owner's zone its days are counted in
    /// (docs/campaigns.md#caps), when configured.
    pub fn daily_cap(&self) -> Result<Option<(u32, crate::campaign::plan::OwnerZone)>> {
        use crate::campaign::plan::OwnerZone;
        match self.config.daily_call_cap()? {
            Some(n) => Ok(Some((n, self.config.owner_timezone()?.map_or(OwnerZone::Local, OwnerZone::Named)))),
            None => Ok(None),
        }
    }

    /// The current time, from [`Context::clock`].
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The service's current time for a decision that depends on it (a
    /// relative `--at`, the 60-second minimum): with no sample of the
    /// service clock, or one older than 10 minutes, one cheap request
    /// takes a sample first. A failed request leaves the clock as it is
    /// (the command's own request reports the problem).
    pub async fn service_now(&self) -> DateTime<Utc> {
        if let Some(sc) = self.service_clock.as_ref().filter(|sc| sc.needs_sample()) {
            if let Ok(c) = self.client() {
                if let Err(e) = c.sample_clock().await {
                    tracing::debug!("no clock sample: {e}");
                }
            }
            return sc.now();
        }
        self.now()
    }
}

pub use connect::{log_setup, LogSetup};

/// Run one parsed command.
pub async fn run(ctx: &Context, command: Command) -> Result<Outcome> {
    match command {
        Command::Mission(c) => mission::run(ctx, c).await,
        Command::Poll(a) => poll::run(ctx, a).await,
        Command::Agentphone(c) => agentphone::run(ctx, c).await,
        Command::Call(a) => call::run(ctx, a).await,
        Command::Sms(c) => sms::run(ctx, c).await,
        Command::Approval(c) => approval::run(ctx, c).await,
        Command::State(c) => state::run(ctx, c).await,
        Command::Memory(c) => memory::run(ctx, c).await,
        Command::Optout(c) => optout::run(ctx, c).await,
        Command::Forget(a) => forget::run(ctx, a).await,
        Command::Mcp(a) => mcp::run(ctx, a).await,
        Command::Setup(a) => setup::run(ctx, a).await,
        Command::Status(a) => status::run(ctx, a).await,
        Command::Skill(c) => skill::run(ctx, c).await,
        Command::Completions(a) => docs::completions(a),
        Command::Man(a) => docs::man(a),
        Command::Run(c) => run::run(ctx, c).await,
        Command::Plan(c) => plan::run(ctx, c).await,
        Command::Event(c) => event::run(ctx, c).await,
        Command::Assistant(c) => assistant::run(ctx, c).await,
        Command::Phone(c) => phone::run(ctx, c).await,
        Command::Schedule(c) => schedule::run(ctx, c).await,
        Command::Insights(c) => insights::run(ctx, c).await,
        Command::Agent(c) => agent::run(ctx, c).await,
        Command::CheckKey(a) => check_key::run(ctx, a).await,
        Command::Connect(c) => connect::run(ctx, c).await,
        Command::Tail(a) => tail::run(ctx, a).await,
        Command::Legacy(c) => match legacy::route(c)? {
            legacy::Route::Noun(command, reprint) => Ok(reprint.apply(Box::pin(run(ctx, command)).await?)),
            legacy::Route::Memory(c) => memory::run_legacy(ctx, c).await,
            legacy::Route::ListState => state::list_legacy(ctx).await,
        },
        Command::Sandbox(a) => sandbox::run(ctx, a).await,
        Command::Demo(a) => demo::run(ctx, a).await,
    }
}

/// Commands that serve many connections at once (the sandbox) get a
/// multi-thread runtime; everything else runs on one thread.
pub fn needs_multi_thread(command: &Command) -> bool {
    matches!(command, Command::Sandbox(_) | Command::Demo(_))
}
