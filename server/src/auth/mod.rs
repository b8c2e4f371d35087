//! Authentication (htpasswd, HTTP Basic) and authorization (labreg's access
//! rules). The HTTP layer asks two questions: who is this request from, and
//! may they do this action on this repository.

pub mod htpasswd;
pub mod rules;

use base64::Engine;

pub use htpasswd::Htpasswd;
pub use rules::{Action, Principal, Rule, glob_match};

/// Why a request could not be authenticated: answered 401 with the challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unauthenticated(pub &'static str);

/// What a request asks to do, as authorization sees it. Each front end (the
/// `/v2/` API, a web UI) maps its own routes to a scope; the decision is
/// made here, once, for all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    /// The API root: anyone signed in. Anonymous clients are asked for
    /// credentials even when rules grant them pulls, so that docker and
    /// skopeo send theirs.
    Root,
    /// The catalog: anyone who may pull something.
    Catalog,
    /// One action on one repository.
    Repository(&'a str, Action),
    /// Valid credentials or none; nothing more to check.
    Any,
    /// Views of the whole store (storage usage): any signed-in user without
    /// access rules; with rules, only a user granted pull, push and delete
    /// on `*`.
    Admin,
}

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// Answered 401 with the challenge: no or bad credentials.
    Unauthenticated(&'static str),
    /// Answered 403: `who` is signed in but lacks the right.
    Forbidden { who: Principal, message: String },
}

pub struct Access {
    htpasswd: Option<Htpasswd>,
    realm: String,
    rules: Option<Vec<Rule>>,
}

impl Access {
    /// No authentication: everyone may do everything (registry:2 without auth).
    pub fn open() -> Access {
        Access {
            htpasswd: None,
            realm: String::new(),
            rules: None,
        }
    }

    pub fn new(htpasswd: Option<Htpasswd>, realm: String, rules: Option<Vec<Rule>>) -> Access {
        Access {
            htpasswd,
            realm,
            rules,
        }
    }

    pub fn enabled(&self) -> bool {
        self.htpasswd.is_some()
    }

    /// The `WWW-Authenticate` challenge.
    pub fn challenge(&self) -> String {
        let realm = self.realm.replace('\\', "\\\\").replace('"', "\\\"");
        format!("Basic realm=\"{realm}\"")
    }

    /// Reads the Authorization header. No header is Anonymous; a header that
    /// does not carry valid credentials is an error, never Anonymous.
    pub async fn authenticate(
        &self,
        authorization: Option<&[u8]>,
    ) -> Result<Principal, Unauthenticated> {
        let Some(htpasswd) = &self.htpasswd else {
            return Ok(Principal::Anonymous);
        };
        let Some(raw) = authorization else {
            return Ok(Principal::Anonymous);
        };
        let raw = std::str::from_utf8(raw)
            .map_err(|_| Unauthenticated("malformed Authorization header"))?;
        let (scheme, value) = raw.trim().split_once(' ').unwrap_or((raw.trim(), ""));
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(Unauthenticated("only Basic authentication is supported"));
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .map_err(|_| Unauthenticated("malformed Basic credentials"))?;
        let text =
            String::from_utf8(decoded).map_err(|_| Unauthenticated("credentials are not UTF-8"))?;
        let (user, password) = text
            .split_once(':')
            .ok_or(Unauthenticated("malformed Basic credentials"))?;
        if htpasswd.verify(user, password).await {
            Ok(Principal::User(user.to_string()))
        } else {
            // The user name only (control characters escaped, so a crafted
            // name cannot forge a line); never the password.
            tracing::warn!(user = %user.escape_debug(), "failed login: unknown user or wrong password");
            Err(Unauthenticated("invalid username or password"))
        }
    }

    /// Authentication and authorization in one step: who the credentials
    /// (the Authorization header's value) belong to, and whether they may do
    /// `scope`.
    pub async fn admit(
        &self,
        authorization: Option<&[u8]>,
        scope: Scope<'_>,
    ) -> Result<Principal, Denial> {
        let who = self
            .authenticate(authorization)
            .await
            .map_err(|Unauthenticated(why)| Denial::Unauthenticated(why))?;
        if !self.enabled() {
            return Ok(who);
        }
        let anonymous = who == Principal::Anonymous;
        let allowed = match scope {
            Scope::Root => !anonymous,
            Scope::Catalog => self.may_list(&who),
            Scope::Repository(name, action) => self.allowed(&who, name, action),
            Scope::Any => true,
            Scope::Admin => match &self.rules {
                None => !anonymous,
                Some(rules) => rules::is_admin(rules, &who),
            },
        };
        match (allowed, scope, &who) {
            (true, ..) => Ok(who),
            (false, Scope::Repository(name, action), Principal::User(user)) => {
                let message = format!(
                    "user {user:?} may not {} repository {name:?}",
                    format!("{action:?}").to_lowercase()
                );
                Err(Denial::Forbidden { who, message })
            }
            (false, Scope::Admin, Principal::User(user)) => {
                let message = format!(
                    "user {user:?} is not an administrator: a rule granting pull, push and delete on \"*\" makes one"
                );
                Err(Denial::Forbidden { who, message })
            }
            (false, ..) => Err(Denial::Unauthenticated("no credentials")),
        }
    }

    /// Whether `who` may do `action` on repository `name`.
    pub fn allowed(&self, who: &Principal, name: &str, action: Action) -> bool {
        if !self.enabled() {
            return true;
        }
        match &self.rules {
            None => matches!(who, Principal::User(_)),
            Some(rules) => rules::allowed(rules, who, name, action),
        }
    }

    /// Whether `who` may see the catalog at all.
    pub fn may_list(&self, who: &Principal) -> bool {
        if !self.enabled() {
            return true;
        }
        match &self.rules {
            None => matches!(who, Principal::User(_)),
            Some(rules) => {
                matches!(who, Principal::User(_)) || rules::may_pull_something(rules, who)
            }
        }
    }
}
