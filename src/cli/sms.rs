//! `clawdtalk sms send|list|conversations`.

use clap::{Args, Subcommand, ValueEnum};

#[derive(Debug, Clone, Subcommand)]
pub enum SmsCommand {
    /// Send an SMS (or MMS with --media) from your ClawdTalk number.
    Send(SmsSendArgs),
    /// List recent messages: direction, date, number, start of the text.
    List(SmsListArgs),
    /// List SMS threads with their latest message.
    Conversations,
}

#[derive(Debug, Clone, Args)]
pub struct SmsSendArgs {
    /// Recipient, E.164 (e.g. +15551234567).
    pub to: String,
    /// Text of the message.
    pub message: String,
    /// URL of an image or file to attach (repeat for several).
    #[arg(long = "media", value_name = "URL")]
    pub media: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct SmsListArgs {
    /// How many messages to show.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub limit: u32,
    /// Only messages with this number (E.164).
    #[arg(long, value_name = "NUMBER")]
    pub contact: Option<String>,
    /// Only messages in this direction.
    #[arg(long, value_enum)]
    pub direction: Option<Direction>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Direction {
    Inbound,
    Outbound,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}
