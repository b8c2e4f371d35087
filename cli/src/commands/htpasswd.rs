//! `labctl htpasswd USER`: one `USER:$2y$...` line, as `htpasswd -nB`
//! prints it. The password comes from stdin when it is not a terminal.

use std::process::ExitCode;

use anyhow::Context;

use crate::manifest::checks;

#[derive(clap::Args)]
pub struct Args {
    /// The user name.
    pub user: String,
    /// bcrypt cost (10 to 16).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(10..=16))]
    pub cost: u32,
}

/// `USER:HASH` with an Apache-style `$2y$` bcrypt hash.
pub fn line(user: &str, password: &str, cost: u32) -> anyhow::Result<String> {
    let hash = bcrypt::hash_with_result(password, cost).context("bcrypt failed")?;
    Ok(format!(
        "{user}:{}",
        hash.format_for_version(bcrypt::Version::TwoY)
    ))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let Err((msg, help)) = checks::user_name(&args.user) {
        anyhow::bail!("{msg}\n  help: {help}");
    }
    let password = super::read_secret(
        "Password: ",
        true,
        "pipe the password on stdin or type it at the prompt",
    )?;
    anyhow::ensure!(
        password.len() <= 72,
        "bcrypt uses only the first 72 bytes of a password; this one has {}\n  help: choose a shorter password",
        password.len()
    );
    println!("{}", line(&args.user, &password, args.cost)?);
    Ok(ExitCode::SUCCESS)
}
