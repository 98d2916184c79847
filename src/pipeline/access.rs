//! Who may read the daemon's HTTP server, and what a browser may do with what it serves.
//!
//! Safe by default: the server listens on loopback. Bound to any other address it refuses to start
//! unless a bearer token is set in the environment variable named by `http.token_env`; every path
//! but `/healthz` (liveness, for orchestrators) then needs `Authorization: Bearer <token>`. A token
//! set while on loopback is required too. The dashboard's shell and static files hold no data and stay
//! open too (see [`crate::dashboard`]). Every response carries a strict Content-Security-Policy: no
//! inline script, nothing loaded from other origins, no framing.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};

/// The policy every response carries: scripts only from this server (no inline script or handler,
/// no `eval`); styles from this server, plus the `style` attributes the chart library sets; images
/// from this server or data URLs; API calls only to this server.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AccessError {
    #[error(
        "http.listen = {addr} is not a loopback address: set a bearer token in the environment variable \
         {var} (named by http.token_env), or listen on 127.0.0.1"
    )]
    TokenRequired { addr: SocketAddr, var: String },
}

/// The token the server requires, if any.
#[derive(Debug, Default)]
pub struct Access {
    token: Option<SecretString>,
}

impl Access {
    /// The access rule for a server on `addr`, with the token read from `token_env`.
    pub fn for_listen(addr: SocketAddr, token_env: &str) -> Result<Access, AccessError> {
        let token = std::env::var(token_env)
            .ok()
            .filter(|t| !t.trim().is_empty());
        Access::new(addr, token_env, token)
    }

    fn new(addr: SocketAddr, var: &str, token: Option<String>) -> Result<Access, AccessError> {
        if token.is_none() && !addr.ip().is_loopback() {
            return Err(AccessError::TokenRequired {
                addr,
                var: var.to_string(),
            });
        }
        Ok(Access {
            token: token.map(|t| SecretString::from(t.trim().to_string())),
        })
    }

    /// Requires `token` on every path but `/healthz` and the dashboard's shell.
    pub fn with_token(token: &str) -> Access {
        Access {
            token: Some(SecretString::from(token.to_string())),
        }
    }

    fn allows(&self, req: &Request) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let path = req.uri().path();
        if path == "/healthz" || crate::dashboard::is_public_path(path) {
            return true;
        }
        req.headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|given| same(given.trim().as_bytes(), token.expose_secret().as_bytes()))
    }
}

/// Compares in time independent of where the first difference is.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Middleware: the token check, then the security headers on whatever is answered.
pub async fn guard(State(access): State<Arc<Access>>, req: Request, next: Next) -> Response {
    let mut response = if access.allows(&req) {
        next.run(req).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            axum::Json(serde_json::json!({
                "error": "this server needs Authorization: Bearer <token> (the value of the variable named by http.token_env)"
            })),
        )
            .into_response()
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_loopback_needs_a_token() {
        let lan: SocketAddr = "0.0.0.0:9187".parse().unwrap();
        let e = Access::new(lan, "COINPULSE_HTTP_TOKEN", None).unwrap_err();
        assert!(e.to_string().contains("COINPULSE_HTTP_TOKEN"), "{e}");
        assert!(Access::new(lan, "V", Some("t0k".into())).is_ok());
        let local: SocketAddr = "127.0.0.1:9187".parse().unwrap();
        assert!(Access::new(local, "V", None).unwrap().token.is_none());
        let v6: SocketAddr = "[::1]:9187".parse().unwrap();
        assert!(Access::new(v6, "V", None).is_ok());
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
    }
}
