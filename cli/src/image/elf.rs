//! What an image `FROM scratch` needs to know about a binary before it
//! ships it: that it is a 64-bit little-endian ELF executable, its
//! architecture, and that it asks for no dynamic loader (nothing of the
//! machine's /lib is in the image).

use std::io::Read;
use std::path::Path;

/// Reads the ELF header and program headers of `path`; the OCI
/// architecture (`amd64`, `arm64`) when the binary is static.
pub fn static_arch(path: &Path) -> anyhow::Result<&'static str> {
    let shown = path.display();
    let mut head = Vec::new();
    std::fs::File::open(path)
        .map_err(|e| anyhow::anyhow!("cannot read the binary {shown}: {e}"))?
        .take(64 * 1024)
        .read_to_end(&mut head)?;
    let u16_at = |at: usize| {
        head.get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |at: usize| {
        head.get(at..at + 4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
    };
    let u64_at = |at: usize| {
        head.get(at..at + 8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    };
    anyhow::ensure!(
        head.starts_with(b"\x7fELF") && head.get(4) == Some(&2) && head.get(5) == Some(&1),
        "{shown} is not a 64-bit little-endian ELF executable\n  help: pass labreg's Linux binary (amd64 or arm64)"
    );
    let arch = match u16_at(18) {
        Some(62) => "amd64",
        Some(183) => "arm64",
        other => anyhow::bail!(
            "{shown} is for ELF machine {other:?}, not amd64 or arm64\n  help: build it for x86_64 or aarch64 Linux"
        ),
    };
    let phoff = u64_at(32).unwrap_or(0) as usize;
    let phentsize = usize::from(u16_at(54).unwrap_or(0));
    let phnum = usize::from(u16_at(56).unwrap_or(0));
    for i in 0..phnum {
        let at = phoff + i * phentsize;
        let Some(kind) = u32_at(at) else {
            anyhow::bail!("{shown}: its program headers are cut short (a damaged binary?)");
        };
        const PT_INTERP: u32 = 3;
        if kind == PT_INTERP {
            let off = u64_at(at + 8).unwrap_or(0) as usize;
            let len = u64_at(at + 32).unwrap_or(0) as usize;
            let interp = head
                .get(off..off + len)
                .map(|b| {
                    String::from_utf8_lossy(b)
                        .trim_end_matches('\0')
                        .to_string()
                })
                .unwrap_or_else(|| "a dynamic loader".into());
            anyhow::bail!(
                "{shown} is dynamically linked (it needs {interp} and the machine's shared libraries), which an image FROM scratch does not have\n  help: build it statically: RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --target x86_64-unknown-linux-gnu -p labreg (the --target keeps build scripts dynamic)"
            );
        }
    }
    Ok(arch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_binaries_and_non_elf_files_are_refused() {
        // The test binary itself is linked dynamically against glibc.
        let me = std::env::current_exe().unwrap();
        let err = static_arch(&me).unwrap_err().to_string();
        assert!(err.contains("dynamically linked"), "{err}");
        assert!(err.contains("ld-linux"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("script.sh");
        std::fs::write(&text, "#!/bin/sh\n").unwrap();
        let err = static_arch(&text).unwrap_err().to_string();
        assert!(err.contains("not a 64-bit little-endian ELF"), "{err}");
    }
}
