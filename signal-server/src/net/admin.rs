//! The moderators' HTTP endpoints, enabled by `--admin-token`:
//!
//! - `GET /admin/reports?limit=N`: the latest reports (at most 1000), newest first;
//! - `GET /admin/bans`: bans in force;
//! - `DELETE /admin/bans/<key>`: lift a ban now.
//!
//! Every request must carry `Authorization: Bearer <token>` (compared in constant time). Without
//! the token configured the paths answer 404, as if they did not exist.

use ring::digest;

use crate::core::safety::Key;

/// What a moderator asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminReq {
    /// The latest reports.
    Reports {
        /// How many.
        limit: usize,
    },
    /// Bans in force.
    Bans,
    /// Lift the ban on a key.
    Lift(Key),
}

/// Whether `auth` (an `Authorization` header) carries `token`. Both sides are hashed first, so
/// the comparison takes the same time whatever the lengths and wherever they differ.
pub fn authorized(token: &str, auth: Option<&str>) -> bool {
    let Some(given) = auth.and_then(|a| a.strip_prefix("Bearer ")) else { return false };
    let a = digest::digest(&digest::SHA256, token.as_bytes());
    let b = digest::digest(&digest::SHA256, given.trim().as_bytes());
    a.as_ref().iter().zip(b.as_ref()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Route an authorized request: the request for the hub, or the status and text to answer.
pub fn route(method: &str, path: &str, query: Option<&str>) -> Result<AdminReq, (u16, &'static str)> {
    match (method, path) {
        ("GET", "/admin/reports") => {
            let limit = query
                .into_iter()
                .flat_map(|q| q.split('&'))
                .find_map(|kv| kv.strip_prefix("limit="))
                .map_or(Ok(100), str::parse::<usize>)
                .map_err(|_| (400, "limit must be a whole number\n"))?;
            Ok(AdminReq::Reports { limit: limit.min(1000) })
        }
        ("GET", "/admin/bans") => Ok(AdminReq::Bans),
        ("DELETE", p) if p.starts_with("/admin/bans/") => {
            let key = Key::parse(&p["/admin/bans/".len()..]).ok_or((400, "a ban key is 32 hex digits\n"))?;
            Ok(AdminReq::Lift(key))
        }
        (_, "/admin/reports" | "/admin/bans") => Err((405, "method not allowed\n")),
        _ => Err((404, "not found\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_bearer_token_is_authorized() {
        assert!(authorized("s3cret-token", Some("Bearer s3cret-token")));
        assert!(!authorized("s3cret-token", Some("Bearer s3cret-tokeN")));
        assert!(!authorized("s3cret-token", Some("Bearer s3cret")));
        assert!(!authorized("s3cret-token", Some("Basic s3cret-token")));
        assert!(!authorized("s3cret-token", Some("s3cret-token")));
        assert!(!authorized("s3cret-token", None));
    }

    #[test]
    fn routes() {
        assert_eq!(route("GET", "/admin/reports", None), Ok(AdminReq::Reports { limit: 100 }));
        assert_eq!(route("GET", "/admin/reports", Some("limit=5")), Ok(AdminReq::Reports { limit: 5 }));
        assert_eq!(route("GET", "/admin/reports", Some("limit=99999")), Ok(AdminReq::Reports { limit: 1000 }));
        assert!(matches!(route("GET", "/admin/reports", Some("limit=x")), Err((400, _))));
        assert_eq!(route("GET", "/admin/bans", None), Ok(AdminReq::Bans));
        let key = Key([0xab; 16]);
        assert_eq!(route("DELETE", &format!("/admin/bans/{key}"), None), Ok(AdminReq::Lift(key)));
        assert!(matches!(route("DELETE", "/admin/bans/nope", None), Err((400, _))));
        assert!(matches!(route("POST", "/admin/bans", None), Err((405, _))));
        assert!(matches!(route("GET", "/admin/other", None), Err((404, _))));
    }
}
