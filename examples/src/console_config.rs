//! The `[console]` table: how long portal links and console sessions last, checked at
//! load so that a bad value names its key.

use std::time::Duration;

use serde::Deserialize;

use crate::config::{duration, ConfigError};

/// How long the console's links and sessions last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsoleSettings {
    /// A portal link works once within this (access.md §5: 15 minutes).
    pub link_lifetime: Duration,
    /// A session ends this long after its sign-in (access.md §5: 12 hours).
    pub session_lifetime: Duration,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            link_lifetime: Duration::from_secs(15 * 60),
            session_lifetime: Duration::from_secs(12 * 60 * 60),
        }
    }
}

/// `[console]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawConsole {
    link_lifetime: String,
    session_lifetime: String,
}

impl Default for RawConsole {
    fn default() -> Self {
        Self {
            link_lifetime: "15m".into(),
            session_lifetime: "12h".into(),
        }
    }
}

impl RawConsole {
    /// The settings, each within its range.
    pub(crate) fn validate(self) -> Result<ConsoleSettings, ConfigError> {
        let link_lifetime = within(
            "console.link_lifetime",
            &self.link_lifetime,
            Duration::from_secs(1),
            Duration::from_secs(24 * 60 * 60),
            "from 1s to 24h",
        )?;
        let session_lifetime = within(
            "console.session_lifetime",
            &self.session_lifetime,
            Duration::from_secs(60),
            Duration::from_secs(30 * 24 * 60 * 60),
            "from 1m to 30 days",
        )?;
        Ok(ConsoleSettings {
            link_lifetime,
            session_lifetime,
        })
    }
}

fn within(
    key: &str,
    text: &str,
    least: Duration,
    most: Duration,
    range: &str,
) -> Result<Duration, ConfigError> {
    let value = duration(key, text)?;
    if value < least || value > most {
        return Err(ConfigError::new(key, format!("must be {range}")));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(link: &str, session: &str) -> RawConsole {
        RawConsole {
            link_lifetime: link.into(),
            session_lifetime: session.into(),
        }
    }

    #[test]
    fn defaults_are_the_spec_s() {
        let settings = RawConsole::default().validate().unwrap();
        assert_eq!(settings, ConsoleSettings::default());
    }

    #[test]
    fn each_bad_value_names_its_key() {
        for (link, session, key) in [
            ("soon", "12h", "console.link_lifetime"),
            ("0s", "12h", "console.link_lifetime"),
            ("2d", "12h", "console.link_lifetime"),
            ("15m", "10s", "console.session_lifetime"),
            ("15m", "60d", "console.session_lifetime"),
        ] {
            let error = raw(link, session).validate().unwrap_err();
            assert_eq!(error.key, key, "{link} {session}");
        }
    }
}
