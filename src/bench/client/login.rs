//! Logging in: how sessions log in ([`LoginSpec`]), and [`Target`]'s idle and logged-in
//! sessions (login, else create, each step checked by a `say` probe).

use anyhow::{Result, anyhow, bail};
use tokio::time::Instant;

use super::{Conn, Protocol, Target};

/// How sessions log in.
#[derive(Debug, Clone)]
pub struct LoginSpec {
    pub user_prefix: String,
    pub first_user: usize,
    pub password: String,
    pub login: String,
    pub create: String,
    pub logged_in_markers: Vec<String>,
    pub failed_markers: Vec<String>,
    pub ready_marker: String,
    pub say: String,
    pub expect: String,
    pub create_first: bool,
    pub ssh_register_user: String,
}

impl LoginSpec {
    pub fn user(&self, index: usize) -> String {
        format!("{}{}", self.user_prefix, self.first_user + index)
    }

    fn fill(&self, template: &str, index: usize) -> String {
        template
            .replace("{user}", &self.user(index))
            .replace("{password}", &self.password)
    }

    pub fn say_line(&self, token: &str) -> String {
        self.say.replace("{token}", token)
    }

    pub fn expect_text(&self, token: &str) -> String {
        self.expect.replace("{token}", token)
    }
}

impl Target {
    /// A connection at the connection screen (telnet/TLS: `--ready-marker`, else its first
    /// text) or an authenticated shell (SSH: password, else logged in through the
    /// registration user), for `hold`.
    pub async fn open_idle(&self, index: usize, spec: &LoginSpec, run: &str) -> Result<Conn> {
        let mut conn = match self.protocol {
            Protocol::Ssh => {
                let shell = self
                    .open_ssh_shell(index, &spec.user(index), Some(&spec.password))
                    .await?;
                match shell {
                    Some(conn) => conn,
                    None => return self.logged_in(index, spec, run).await,
                }
            }
            _ => self.open_stream(index).await?,
        };
        conn.first_text(&spec.ready_marker, self.timeout).await?;
        Ok(conn)
    }

    /// A logged-in session for user `index`, verified by a `say` round trip.
    pub async fn logged_in(&self, index: usize, spec: &LoginSpec, run: &str) -> Result<Conn> {
        let probe = |step: usize| format!("{run}p{index}s{step}e");
        if self.protocol == Protocol::Ssh {
            let user = spec.user(index);
            if let Some(mut conn) = self
                .open_ssh_shell(index, &user, Some(&spec.password))
                .await?
            {
                if conn.probe(spec, &probe(0), self.timeout).await? {
                    return Ok(conn);
                }
                bail!(
                    "{user}: SSH shell open but `say` is not echoed; last text: {:?}",
                    conn.tail()
                );
            }
            if spec.ssh_register_user.is_empty() {
                bail!("{user}: SSH password authentication refused (no --ssh-register-user)");
            }
            let mut conn = self
                .open_ssh_shell(index, &spec.ssh_register_user, None)
                .await?
                .ok_or_else(|| {
                    anyhow!(
                        "{user}: SSH password authentication refused, and registration user {:?} too",
                        spec.ssh_register_user
                    )
                })?;
            conn.settle(&spec.ready_marker, self.timeout).await?;
            return self.screen_login(conn, index, spec, &probe).await;
        }
        let mut conn = self.open_stream(index).await?;
        conn.settle(&spec.ready_marker, self.timeout).await?;
        self.screen_login(conn, index, spec, &probe).await
    }

    /// Logs in at a connection screen: login, else create, else login again (or create
    /// first), each step checked by a `say` probe.
    async fn screen_login(
        &self,
        mut conn: Conn,
        index: usize,
        spec: &LoginSpec,
        probe: &(dyn Fn(usize) -> String + Sync),
    ) -> Result<Conn> {
        let steps: [&str; 3] = if spec.create_first {
            [&spec.create, &spec.login, &spec.create]
        } else {
            [&spec.login, &spec.create, &spec.login]
        };
        let mut markers: Vec<&[u8]> = spec
            .logged_in_markers
            .iter()
            .map(|m| m.as_bytes())
            .collect();
        let logged_in = markers.len();
        markers.extend(spec.failed_markers.iter().map(|m| m.as_bytes()));
        let mut said = Vec::new();
        for (step, template) in steps.iter().enumerate() {
            if template.is_empty() {
                continue;
            }
            conn.reader.text.clear();
            let line = spec.fill(template, index);
            conn.send_line(&line).await?;
            said.push(template.split_whitespace().next().unwrap_or(""));
            let found = conn
                .expect_any(&markers, Instant::now() + self.timeout)
                .await?;
            if matches!(found, Some(i) if i >= logged_in) {
                continue; // refused; next step
            }
            // A logged-in marker, or nothing recognised in time: see whether `say` works.
            if conn.probe(spec, &probe(step), self.timeout).await? {
                return Ok(conn);
            }
        }
        bail!(
            "{}: could not log in (tried {}); last text: {:?}",
            spec.user(index),
            said.join(", "),
            conn.tail()
        )
    }
}
