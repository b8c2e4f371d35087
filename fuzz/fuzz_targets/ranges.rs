//! Range and Content-Range headers: whatever is asked, a satisfiable answer
//! lies inside the blob.
#![no_main]

use labreg::api::range::{RangeRequest, parse_content_range, parse_range};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let size = u64::from_le_bytes(data[..8].try_into().unwrap()) % (1 << 40);
    let Ok(header) = std::str::from_utf8(&data[8..]) else { return };
    if let RangeRequest::Partial(r) = parse_range(Some(header), size) {
        assert!(r.len > 0 && r.start < size && r.start + r.len <= size, "{header:?} on {size}");
    }
    if let Some(c) = parse_content_range(header) {
        let _ = c.end_inclusive.checked_sub(c.start);
    }
});
