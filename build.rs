//! Embeds the prompt folders of the languages besides en-US: every `audio/<tag>/*.wav`
//! becomes an entry of `assets::LANGUAGE_PROMPTS`, so adding a language's prompts (or a
//! translated prompt) needs no list edited by hand. en-US (`audio/*.wav`) is listed in
//! `src/gateway/assets.rs`.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let root = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let audio = Path::new(&root).join("audio");
    // A directory: cargo re-runs this when any file below it changes.
    println!("cargo:rerun-if-changed=audio");
    let mut dirs: Vec<_> = std::fs::read_dir(&audio)
        .expect("audio/ is readable")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let mut out = String::from("&[\n");
    for dir in dirs {
        let tag = dir
            .file_name()
            .and_then(|n| n.to_str())
            .expect("UTF-8 folder name");
        let mut wavs: Vec<_> = std::fs::read_dir(&dir)
            .expect("language folder is readable")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "wav"))
            .collect();
        wavs.sort();
        writeln!(out, "    LanguagePrompts {{ tag: {tag:?}, prompts: &[").unwrap();
        for wav in wavs {
            let name = wav
                .file_stem()
                .and_then(|n| n.to_str())
                .expect("UTF-8 file name");
            let path = wav.to_str().expect("UTF-8 path");
            writeln!(out, "        ({name:?}, include_bytes!({path:?})),").unwrap();
        }
        out.push_str("    ] },\n");
    }
    out.push_str("]\n");
    let dest = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("language_prompts.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
}
