//! Writes a pcap for the SIPp deposit scenario: a WAV file (8 kHz mono 16-bit), or 3 s of a
//! test signal, as PCMU RTP followed by an RFC 4733 `#`.
//!
//!     cargo run --example deposit-pcap -- deposit.pcap [speech.wav]

#[path = "../tests/support/pcap.rs"]
mod pcap;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = args.next().ok_or("usage: deposit-pcap OUT.pcap [IN.wav]")?;
    let audio: Vec<i16> = match args.next() {
        Some(wav) => umgw::media::prompts::load(std::path::Path::new(&wav))?,
        None => (0..24_000)
            .map(|i| {
                let t = i as f64 / 8000.0;
                ((2.0 * std::f64::consts::PI * 440.0 * t).sin() * 8000.0) as i16
            })
            .collect(),
    };
    pcap::write_deposit_pcap(std::path::Path::new(&out), &audio)?;
    println!("{out}: {} ms of audio, then '#'", audio.len() / 8);
    Ok(())
}
