//! The /v2 path grammar and repository name validation: any path parses or
//! is refused, never panics, and a parsed name that validates is one a
//! storage path can be built from.
#![no_main]

use labreg::api::routes::{Route, parse};
use labreg::registry::names::validate_name;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else { return };
    if let Some(route) = parse(path) {
        let name = match route {
            Route::Tags { name }
            | Route::Manifest { name, .. }
            | Route::Blob { name, .. }
            | Route::UploadStart { name }
            | Route::Upload { name, .. }
            | Route::Referrers { name, .. } => name,
            Route::Base | Route::Catalog => return,
        };
        if validate_name(name).is_ok() {
            assert!(!name.split('/').any(|c| c.is_empty() || c == "." || c == ".."), "{name:?}");
            assert!(!name.contains('%') && !name.contains('\0'));
        }
    }
});
