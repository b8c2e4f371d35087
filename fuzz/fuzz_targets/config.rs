//! distribution's config.yml, with REGISTRY_* overrides: any text loads or
//! fails with an error naming YAML or a key, never a panic.
#![no_main]

use labreg::config::{Config, ConfigError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // The first line, if it looks like VAR=value, is an environment override.
    let (vars, yaml) = match text.split_once('\n') {
        Some((first, rest)) if first.starts_with("REGISTRY_") && first.contains('=') => {
            let (k, v) = first.split_once('=').unwrap();
            (vec![(k.to_string(), v.to_string())], rest)
        }
        _ => (Vec::new(), text),
    };
    match Config::from_yaml(yaml, vars) {
        Ok(_) | Err(ConfigError::Yaml(_)) | Err(ConfigError::Invalid { .. }) => {}
        Err(ConfigError::Read { .. }) => unreachable!("no file is read"),
    }
});
