//! Dial-plan loader: arbitrary text gives a plan or diagnostics, never a panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Err(diags) = umgw::dialplan::load_str(Path::new("fuzz.toml"), &text) {
        for d in diags {
            let _ = d.to_string();
        }
    }
});
