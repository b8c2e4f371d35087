//! lab.yaml: any text decodes to a lab or to problems, each with a position
//! inside the text (lines counted as YAML counts them), never a panic;
//! problems come sorted by position.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else { return };
    let (_lab, problems) = labctl::manifest::decode(src);
    // YAML breaks lines at \n, \r\n and a lone \r.
    let lines = src.replace("\r\n", "\n").matches(['\n', '\r']).count() + 1;
    for p in &problems {
        assert!(p.pos.line >= 1 && p.pos.column >= 1, "{p}");
        assert!(p.pos.line <= lines as u64, "{p} beyond {lines} lines");
    }
    assert!(problems.windows(2).all(|w| (w[0].pos.line, w[0].pos.column) <= (w[1].pos.line, w[1].pos.column)));
});
