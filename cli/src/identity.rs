//! Finding the user's age identity, like SOPS finds its age keys:
//! `LABCTL_AGE_KEY_FILE` (a file), else `LABCTL_AGE_KEY` (the key itself),
//! else `~/.config/labctl/age/keys.txt`.

use std::path::PathBuf;

use age::secrecy::ExposeSecret;
use age::x25519;

pub const ENV_KEY_FILE: &str = "LABCTL_AGE_KEY_FILE";
pub const ENV_KEY: &str = "LABCTL_AGE_KEY";

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error(
        "no age identity found: {ENV_KEY_FILE} and {ENV_KEY} are not set and {} does not exist\n  \
         help: run `labctl init` to create one, or point {ENV_KEY_FILE} at your age key file", .0.display()
    )]
    NotFound(PathBuf),
    #[error("cannot read the age identity {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{origin} holds no age identity (no line starting with AGE-SECRET-KEY-)\n  help: {help}"
    )]
    Invalid { origin: String, help: String },
    #[error("cannot find the home folder: set HOME or {ENV_KEY_FILE}")]
    NoHome,
    #[error(
        "no age identity found: {ENV_KEY_FILE} and {ENV_KEY} are not set and {} does not exist\n  \
         this lab's secrets are encrypted to {}\n  \
         help: {}", path.display(), recipients_list(recipients), fix(path, None)
    )]
    NoneForLab {
        path: PathBuf,
        recipients: Vec<String>,
    },
    #[error(
        "the age identity {origin} (public key {public}) is not a recipient of this lab\n  \
         this lab's secrets are encrypted to {}\n  \
         help: {}",
        recipients_list(recipients),
        fix(default, Some(public))
    )]
    NotRecipient {
        origin: String,
        public: String,
        default: PathBuf,
        recipients: Vec<String>,
    },
}

fn recipients_list(recipients: &[String]) -> String {
    match recipients {
        [] => "no one (secrets.recipients is empty)".into(),
        [one] => one.clone(),
        many => format!("{} recipients: {}", many.len(), many.join(", ")),
    }
}

/// The ways to a key that opens the lab's secrets.
fn fix(default: &std::path::Path, public: Option<&str>) -> String {
    let have = format!(
        "if you hold the key of one of them, point {ENV_KEY_FILE} at its file (or put it in {}, used when neither {ENV_KEY_FILE} nor {ENV_KEY} is set)",
        default.display()
    );
    match public {
        Some(p) => format!(
            "{have}; otherwise add {p} to secrets.recipients in lab.yaml and ask a recipient to run `labctl secrets rekey` and commit"
        ),
        None => format!(
            "{have}; otherwise run `labctl init` here (it only creates your key, printing its public key), add that key to secrets.recipients in lab.yaml, and ask a recipient to run `labctl secrets rekey` and commit"
        ),
    }
}

/// The identities found and where they came from (for messages).
pub struct Identities {
    pub keys: Vec<x25519::Identity>,
    pub origin: String,
}

impl Identities {
    pub fn as_dyn(&self) -> impl Iterator<Item = &dyn age::Identity> {
        self.keys.iter().map(|k| k as &dyn age::Identity)
    }
}

/// `~/.config/labctl/age/keys.txt`.
pub fn default_path() -> Result<PathBuf, IdentityError> {
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or(IdentityError::NoHome)?;
    Ok(PathBuf::from(home).join(".config/labctl/age/keys.txt"))
}

/// Parses the text of an age key file: comments, blank lines and
/// `AGE-SECRET-KEY-1...` lines.
pub fn parse(text: &str, origin: &str) -> Result<Vec<x25519::Identity>, IdentityError> {
    let mut keys = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.parse::<x25519::Identity>() {
            Ok(k) => keys.push(k),
            Err(_) => {
                return Err(IdentityError::Invalid {
                    origin: origin.to_string(),
                    help: "only X25519 keys made by age-keygen or `labctl init` are supported; check the file is not truncated".into(),
                });
            }
        }
    }
    if keys.is_empty() {
        return Err(IdentityError::Invalid {
            origin: origin.to_string(),
            help: "generate one with `labctl init` or `age-keygen`".into(),
        });
    }
    Ok(keys)
}

/// Looks the identity up in the documented order.
pub fn find() -> Result<Identities, IdentityError> {
    if let Some(file) = std::env::var_os(ENV_KEY_FILE).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(file);
        return from_file(path, &format!("{ENV_KEY_FILE}="));
    }
    if let Ok(key) = std::env::var(ENV_KEY)
        && !key.trim().is_empty()
    {
        let origin = ENV_KEY.to_string();
        return Ok(Identities {
            keys: parse(&key, &origin)?,
            origin,
        });
    }
    let path = default_path()?;
    if !path.exists() {
        return Err(IdentityError::NotFound(path));
    }
    from_file(path, "")
}

/// The identity, checked against the lab's recipients: a missing one or
/// one that opens none of the lab's secrets is an error naming the
/// recipients and the ways to get a matching key.
pub fn for_lab(recipients: &[String]) -> Result<Identities, IdentityError> {
    match find() {
        Err(IdentityError::NotFound(path)) => Err(IdentityError::NoneForLab {
            path,
            recipients: recipients.to_vec(),
        }),
        Ok(ids) if !fits(&ids, recipients) => Err(IdentityError::NotRecipient {
            public: ids.keys[0].to_public().to_string(),
            origin: ids.origin,
            default: default_path()?,
            recipients: recipients.to_vec(),
        }),
        other => other,
    }
}

fn fits(ids: &Identities, recipients: &[String]) -> bool {
    ids.keys
        .iter()
        .any(|k| recipients.contains(&k.to_public().to_string()))
}

/// The example lab's demo identity, relative to the lab's root.
pub const DEMO_FILE: &str = "demo/age-identity.txt";

/// `find`, with one fallback for the example lab: when no identity is
/// configured, or the one found is not a recipient of the lab, and the
/// lab's root holds the demo identity whose recipient the lab lists, that
/// one is used; the note says so.
pub fn find_or_demo(
    root: &std::path::Path,
    recipients: &[String],
) -> Result<(Identities, Option<String>), IdentityError> {
    let fits = |ids: &Identities| fits(ids, recipients);
    let found = find();
    let why = match &found {
        Ok(ids) if fits(ids) => return found.map(|i| (i, None)),
        Ok(ids) => format!(
            "the age identity {} is not a recipient of this lab",
            ids.origin
        ),
        Err(_) => "no age identity is configured".to_string(),
    };
    let demo = root.join(DEMO_FILE);
    match from_file(demo.clone(), "") {
        Ok(ids) if fits(&ids) => {
            let note = format!(
                "note: {why}; using the example lab's demo identity {} (public on purpose; never use it for a real lab)",
                demo.display()
            );
            Ok((ids, Some(note)))
        }
        _ => for_lab(recipients).map(|i| (i, None)),
    }
}

fn from_file(path: PathBuf, prefix: &str) -> Result<Identities, IdentityError> {
    let text = std::fs::read_to_string(&path).map_err(|source| IdentityError::Read {
        path: path.clone(),
        source,
    })?;
    let origin = format!("{prefix}{}", path.display());
    Ok(Identities {
        keys: parse(&text, &origin)?,
        origin,
    })
}

/// A new identity as the text of a key file, and its recipient.
pub fn generate() -> (String, String) {
    let key = x25519::Identity::generate();
    let recipient = key.to_public().to_string();
    let created = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let text = format!(
        "# created: {created} by labctl init\n# public key: {recipient}\n{}\n",
        key.to_string().expose_secret()
    );
    (text, recipient)
}
