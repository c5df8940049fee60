//! What the operator manages from the command line (`portcullis accounts|keys|certs`) and the
//! processes use: [`accounts`] (SQLite, argon2id, throttles; the server's), [`keys`] (SSH host
//! keys and public keys; the portal's), [`certs`] (TLS certificates; the portal's).

pub mod accounts;
pub mod certs;
pub mod keys;
