//! The open-file limit (`RLIMIT_NOFILE`) checked against the configured connections at start.
//!
//! Every connection is a descriptor (two in gateway mode: the player's and the game's), and the
//! web listener holds up to `max_connections` HTTP connections of its own besides the sessions.
//! Past the limit `accept` fails with EMFILE: every new player is refused, and the portal
//! cannot reopen its server link or certificates, so it looks up while it serves no one. So the
//! portal raises its soft limit to the hard limit (which any process may do), and refuses to
//! start, saying what to change, when even that cannot hold the configured connections.

use super::PortalError;
use crate::shared::config::Config;
use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// Descriptors the portal holds besides connections: listeners, the server link and the
/// control socket, the lock and state files, the log, the runtime's own, the child's pipes.
const HEADROOM: u64 = 64;

/// Descriptors `config` may need at once.
pub fn needed(config: &Config) -> u64 {
    let per_connection = if config.gateway.enabled { 2 } else { 1 };
    let web = if config.web.enabled { 1 } else { 0 };
    let connections = config.limits.max_connections as u64;
    connections
        .saturating_mul(per_connection + web)
        .saturating_add(HEADROOM)
}

/// Raises the soft open-file limit to the hard one, and checks that it holds what `config`
/// may need.
pub fn ensure(config: &Config) -> Result<(), PortalError> {
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        tracing::warn!("cannot read the open-file limit (RLIMIT_NOFILE); not checked");
        return Ok(());
    };
    let mut limit = soft;
    if soft < hard {
        match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => {
                limit = hard;
                tracing::info!(from = soft, to = hard, "raised the open-file limit");
            }
            Err(e) => {
                tracing::warn!(error = %e, soft, hard, "cannot raise the open-file limit");
            }
        }
    }
    let needed = needed(config);
    if limit < needed {
        return Err(PortalError::FileLimit {
            max_connections: config.limits.max_connections,
            needed,
            limit,
            hard,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_and_web_need_more_per_connection() {
        let mut c = Config::default();
        c.limits.max_connections = 1000;
        c.web.enabled = false;
        assert_eq!(needed(&c), 1000 + HEADROOM);
        c.web.enabled = true;
        assert_eq!(needed(&c), 2000 + HEADROOM);
        c.gateway.enabled = true;
        assert_eq!(needed(&c), 3000 + HEADROOM);
        c.limits.max_connections = usize::MAX;
        assert_eq!(needed(&c), u64::MAX);
    }
}
