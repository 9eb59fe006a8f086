//! Embeds the built playground (`playground/dist`, committed) in the binary, so `cargo run`
//! needs no Node.js: writes `$OUT_DIR/playground_assets.rs` with one `include_bytes!` per file
//! and a digest of the whole build (used in the asset URLs, so browsers may cache them for
//! good). A missing `dist` gives an empty table: the server then answers 404 for the playground.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() -> std::io::Result<()> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").map_err(std::io::Error::other)?);
    let dist = root.join("playground").join("dist");
    println!("cargo:rerun-if-changed=playground/dist");

    let mut files = Vec::new();
    if dist.is_dir() {
        collect(&dist, &dist, &mut files)?;
    } else {
        println!("cargo:warning=playground/dist is missing: the playground will not be served (cd playground && npm ci && npm run build)");
    }
    files.sort();

    // FNV-1a over every path and content: changes whenever any asset does.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut fnv = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    };
    let mut table = String::new();
    for (rel, path) in &files {
        fnv(rel.as_bytes());
        fnv(&[0]);
        fnv(&std::fs::read(path)?);
        // Resolved against the manifest directory when the crate compiles: the generated file
        // names no checkout, so checkouts that share a target directory cannot cross-link.
        let _ = writeln!(
            table,
            "    ({rel:?}, include_bytes!(concat!(env!(\"CARGO_MANIFEST_DIR\"), {:?}))),",
            format!("/playground/dist/{rel}")
        );
    }
    let out = format!(
        "/// Every file of `playground/dist`, by path relative to it (`/`-separated), sorted.\n\
         pub static ASSETS: &[(&str, &[u8])] = &[\n{table}];\n\n\
         /// A digest of the whole build (paths and contents).\n\
         pub const DIGEST: &str = \"{:012x}\";\n",
        hash >> 16
    );
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").map_err(std::io::Error::other)?);
    std::fs::write(out_dir.join("playground_assets.rs"), out)
}

fn collect(base: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(base, &path, out)?;
        } else if let Ok(rel) = path.strip_prefix(base) {
            let rel: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.push((rel.join("/"), path));
        }
    }
    Ok(())
}
