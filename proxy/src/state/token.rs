//! The admin bearer token (`[admin_auth]`), read at start and on every reload.

use std::sync::{Mutex, PoisonError};

use http::{header, Request};

use config::AdminAuth;

/// The admin bearer token, if one is configured.
#[derive(Default)]
pub struct Token(Mutex<Option<blake3::Hash>>);

impl Token {
    /// Read the token named by `[admin_auth]` (file or environment variable).
    pub fn load(&self, auth: &AdminAuth) -> anyhow::Result<()> {
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
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) =
            token.map(|t| blake3::hash(t.as_bytes()));
        Ok(())
    }

    /// Whether `req` carries the token (always, when none is configured).
    pub fn allows<B>(&self, req: &Request<B>) -> bool {
        let Some(want) = *self.0.lock().unwrap_or_else(PoisonError::into_inner) else {
            return true;
        };
        req.headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|given| blake3::hash(given.trim().as_bytes()) == want)
    }
}
