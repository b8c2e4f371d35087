//! One module per subcommand: an `Args` struct and a `run`.

pub mod certs;
pub mod diff;
pub mod down;
pub mod htpasswd;
pub mod image;
pub mod init;
pub mod render;
pub mod schema;
pub mod sealing;
pub mod secrets;
pub mod up;
pub mod validate;
pub mod verify;

use std::io::{IsTerminal, Read};

/// Reads a secret value: all of stdin when it is not a terminal (one
/// trailing newline removed), else a prompt without echo, asked twice when
/// `confirm`. An empty value is an error with `empty_help`.
pub fn read_secret(prompt: &str, confirm: bool, empty_help: &str) -> anyhow::Result<String> {
    use anyhow::Context;
    let value = if std::io::stdin().is_terminal() {
        let v = rpassword::prompt_password(prompt).context("cannot read from the terminal")?;
        if confirm {
            let again =
                rpassword::prompt_password("Again: ").context("cannot read from the terminal")?;
            anyhow::ensure!(
                v == again,
                "the two entries differ; nothing was changed\n  help: run the command again"
            );
        }
        v
    } else {
        let mut v = String::new();
        std::io::stdin()
            .read_to_string(&mut v)
            .context("cannot read the value from stdin (it must be UTF-8 text)")?;
        if v.ends_with('\n') {
            v.pop();
            if v.ends_with('\r') {
                v.pop();
            }
        }
        v
    };
    anyhow::ensure!(
        !value.is_empty(),
        "the value is empty; nothing was changed\n  help: {empty_help}"
    );
    Ok(value)
}
