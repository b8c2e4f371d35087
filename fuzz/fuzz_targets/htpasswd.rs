//! htpasswd files: every line is a user or a warning, never a panic.
#![no_main]

use labreg::auth::htpasswd::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let entries = parse(text);
    let meaningful = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim().starts_with('#'))
        .count();
    assert!(entries.users.len() + entries.warnings.len() <= meaningful);
    for (user, hash) in &entries.users {
        assert!(!user.is_empty() && !user.contains(':'));
        assert_eq!(hash.len(), 60);
    }
});
