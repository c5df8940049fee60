//! Players' public keys: parsing and validating one OpenSSH public key line
//! ("ssh-ed25519 AAAA… comment") for per-account keys.
//!
//! Invariants: a [`PublicKeyLine`] always holds a key that decoded cleanly,
//! whose base64 blob names the same algorithm as the line's first word, of a
//! supported kind (ed25519, ECDSA nistp256/384/521, RSA of at least
//! [`MIN_RSA_BITS`] bits, FIDO `sk-` ed25519/ECDSA); `openssh` is the
//! canonical "algorithm base64" form (no comment), and `comment` contains no
//! control characters. Input is bounded by [`MAX_PUBLIC_KEY_LINE`].

use russh::keys::ssh_key::public::KeyData;
use russh::keys::{Algorithm, PublicKey};

use super::host::openssh_without_comment;
use super::{KeyError, MIN_RSA_BITS, fingerprint, key_bits};

/// Longest public key line accepted, in bytes (an 8192-bit RSA key line is
/// about 1.4 KiB; certificates and options are refused anyway).
pub const MAX_PUBLIC_KEY_LINE: usize = 16 * 1024;

/// A validated player public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKeyLine {
    /// The key algorithm, e.g. "ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa".
    pub algorithm: String,
    /// Size in bits as `ssh-keygen -l` prints it.
    pub bits: u32,
    /// "SHA256:…", exactly as `ssh-keygen -l` prints it.
    pub fingerprint: String,
    /// Canonical "algorithm base64", without the comment: what to store.
    pub openssh: String,
    /// The comment after the key (may be empty).
    pub comment: String,
    /// The decoded key.
    pub key: PublicKey,
}

impl PublicKeyLine {
    /// Whether `offered` (e.g. the key russh passes to
    /// `Handler::auth_publickey`) is this key. Comments are ignored.
    pub fn matches(&self, offered: &PublicKey) -> bool {
        self.key.key_data() == offered.key_data()
    }
}

/// Parses one OpenSSH public key line, as found in a `.pub` file:
/// `algorithm base64 [comment]`, separated by spaces or tabs.
///
/// Rejects: empty or oversized input (over [`MAX_PUBLIC_KEY_LINE`] bytes),
/// several lines, private keys, authorized_keys option prefixes
/// (`from="…"`, `command=…`, `no-pty`, …), certificates, unknown, DSA or
/// malformed keys, and RSA keys under [`MIN_RSA_BITS`] bits.
pub fn parse_public_key_line(line: &str) -> Result<PublicKeyLine, KeyError> {
    let bad = |why: &str| KeyError::PublicKey(why.to_string());
    if line.len() > MAX_PUBLIC_KEY_LINE {
        return Err(KeyError::PublicKey(format!(
            "input is {} bytes, longer than any public key line ({MAX_PUBLIC_KEY_LINE} at most)",
            line.len()
        )));
    }
    let line = line.trim();
    if line.is_empty() {
        return Err(bad(
            "it is empty; paste the contents of your .pub file (e.g. ~/.ssh/id_ed25519.pub)",
        ));
    }
    if line.contains("PRIVATE KEY") || line.starts_with("PuTTY-User-Key-File") {
        return Err(bad(
            "this is a PRIVATE key, which must never leave your computer; paste the .pub file instead (e.g. ~/.ssh/id_ed25519.pub)",
        ));
    }
    if line.starts_with("---- BEGIN SSH2 PUBLIC KEY") {
        return Err(bad(
            "this is an RFC 4716 (PuTTY/SSH2) public key; convert it with `ssh-keygen -i -f FILE` and paste the one-line result",
        ));
    }
    if line.contains(['\n', '\r']) {
        return Err(bad("it spans several lines; paste exactly one key line"));
    }
    if line.chars().any(|c| c.is_control() && c != '\t') {
        return Err(bad("it contains control characters"));
    }

    let (first, rest) = split_word(line);
    if Algorithm::new(first).is_err() || first.starts_with("ssh-dss") {
        // Not a key type: authorized_keys options, a DSA key, or junk.
        if looks_like_options(first) || rest.split_whitespace().any(is_key_type_name) {
            return Err(bad(
                "authorized_keys options (such as from=\"…\", command=\"…\" or no-pty) are not supported; remove everything before the key type (e.g. ssh-ed25519)",
            ));
        }
        if first.starts_with("ssh-dss") {
            return Err(bad(
                "DSA keys are obsolete and not accepted; make a new key with `ssh-keygen -t ed25519`",
            ));
        }
        return Err(bad(
            "it does not start with a key type such as ssh-ed25519; paste the contents of your .pub file",
        ));
    }
    if first.contains("-cert-v01@openssh.com") {
        return Err(bad(
            "certificates are not accepted; paste the plain public key (.pub, not -cert.pub)",
        ));
    }
    let (blob, comment) = split_word(rest);
    if blob.is_empty() {
        return Err(bad("the base64 key data after the key type is missing"));
    }
    let key = PublicKey::from_openssh(&format!("{first} {blob}")).map_err(|e| {
        KeyError::PublicKey(format!(
            "the key data does not decode as a {first} key ({e}); paste the whole line unchanged"
        ))
    })?;

    let algorithm = key.algorithm();
    let supported = matches!(
        key.key_data(),
        KeyData::Ed25519(_)
            | KeyData::Ecdsa(_)
            | KeyData::Rsa(_)
            | KeyData::SkEd25519(_)
            | KeyData::SkEcdsaSha2NistP256(_)
    );
    let bits = key_bits(key.key_data())
        .filter(|_| supported)
        .ok_or_else(|| {
            KeyError::PublicKey(format!(
                "{} keys are not supported; use ed25519 (ssh-keygen -t ed25519), ecdsa or rsa",
                algorithm.as_str()
            ))
        })?;
    if matches!(key.key_data(), KeyData::Rsa(_)) && bits < MIN_RSA_BITS {
        return Err(KeyError::PublicKey(format!(
            "this RSA key has only {bits} bits, which is too weak (at least {MIN_RSA_BITS}); make a new key with `ssh-keygen -t ed25519`"
        )));
    }

    Ok(PublicKeyLine {
        algorithm: algorithm.as_str().to_string(),
        bits,
        fingerprint: fingerprint(&key),
        openssh: openssh_without_comment(&key)?,
        // Tabs separate fields; inside the comment they become spaces, so a comment never
        // holds a control character.
        comment: comment.replace('\t', " "),
        key: PublicKey::new(key.key_data().clone(), comment.replace('\t', " ").as_str()),
    })
}

/// Splits off the first whitespace-delimited word; the rest is trimmed.
fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim()),
        None => (s, ""),
    }
}

/// Whether `word` is (or starts) an authorized_keys options list.
fn looks_like_options(word: &str) -> bool {
    const FLAGS: &[&str] = &[
        "agent-forwarding",
        "cert-authority",
        "no-agent-forwarding",
        "no-port-forwarding",
        "no-pty",
        "no-user-rc",
        "no-x11-forwarding",
        "port-forwarding",
        "pty",
        "no-touch-required",
        "verify-required",
        "restrict",
        "user-rc",
        "x11-forwarding",
    ];
    word.contains('=')
        || word.contains('"')
        || word
            .split(',')
            .any(|opt| FLAGS.contains(&opt.to_ascii_lowercase().as_str()))
}

/// Whether `word` names a public key type (so what came before it was options).
fn is_key_type_name(word: &str) -> bool {
    word.starts_with("ssh-") || word.starts_with("ecdsa-sha2-") || word.starts_with("sk-")
}
