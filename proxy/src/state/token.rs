//! The admin bearer token (`[admin_auth]`), read at start and on every reload.

use std::sync::{Mutex, PoisonError};

use http::{header, Request};

use config::AdminAuth;

/// The admin bearer token, if one is configured.
#[derive(Default)]
pub struct Token(Mutex<Option<blake3::Hash>>);

impl Token {
    /// Read the token named by `[admin_auth]` (file or environment variable) and put it in force.
    pub fn load(&self, auth: &AdminAuth) -> anyhow::Result<()> {
        let digest = Self::read(auth)?;
        self.set(digest);
        Ok(())
    }

    /// Put a token read by [`Token::read`] in force.
    pub fn set(&self, digest: Option<blake3::Hash>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = digest;
    }

    /// Read the token named by `[admin_auth]` without putting it in force (a reload reads
    /// everything first, and changes nothing when any piece fails).
    pub fn read(auth: &AdminAuth) -> anyhow::Result<Option<blake3::Hash>> {
        let token = match (&auth.token_file, &auth.token_env) {
            (Some(f), _) => Some(
                std::fs::read_to_string(f)
                    .map_err(|e| anyhow::anyhow!("admin_auth.token_file {}: {e}", f.display()))?
                    .trim()
                    .to_string(),
            ),
            (None, Some(var)) => Some(
                std::env::var(var)
                    .map_err(|_| anyhow::anyhow!("admin_auth.token_env: ${var} is not set"))?,
            ),
            (None, None) => None,
        };
        if token.as_deref() == Some("") {
            anyhow::bail!("admin_auth: the token is empty");
        }
        // Kept as a digest: comparing blake3 hashes is constant-time.
        Ok(token.map(|t| blake3::hash(t.as_bytes())))
    }

    /// Whether `req` carries the token (always, when none is configured).
    pub fn allows<B>(&self, req: &Request<B>) -> bool {
        let Some(want) = *self.0.lock().unwrap_or_else(PoisonError::into_inner) else {
            return true;
        };
        req.headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            // The scheme is case-insensitive (RFC 9110 §11.1): `bearer` is `Bearer`.
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, given)| given)
            .is_some_and(|given| blake3::hash(given.trim().as_bytes()) == want)
    }
}
