//! Message format tests: rendering, parsing back, RFC 2047, hostile values.

use super::parse::bad;
use super::render::{
    calling_number, display_number, email_address, short_duration, voice_message_secs,
    words_duration,
};
use super::rfc2047::decode_words;
use super::*;
use crate::store::NewMessage;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::path::PathBuf;
use std::time::UNIX_EPOCH;

/// The generator for boundaries and Message-IDs: seeded, so a failure renders the same bytes.
fn rng() -> StdRng {
    StdRng::seed_from_u64(16)
}

fn sample(kind: MessageKind) -> NewMessage {
    NewMessage {
        kind,
        caller: Some("sip:+14255550123@contoso.com;user=phone".into()),
        caller_name: Some("Bob Kelly".into()),
        mailbox_address: "sip:alice@contoso.com".into(),
        mailbox_name: Some("Alice Smith".into()),
        received: UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
        duration: Duration::from_millis(22_600),
        call_id: "a84b4c76e66710@pc33.contoso.com".into(),
        audio: Some(PathBuf::from("/nonexistent.wav")),
        delivery_id: None,
        recovered: false,
        media_stats: None,
        cut_short: None,
        preview: None,
        forwarded: None,
        marks: crate::domain::Marks::default(),
    }
}

fn wav_bytes(samples: usize) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut cur = std::io::Cursor::new(Vec::new());
    let mut w = hound::WavWriter::new(&mut cur, spec).unwrap();
    for i in 0..samples {
        w.write_sample(((i * 7919) % 65536) as i16).unwrap();
    }
    w.finalize().unwrap();
    cur.into_inner()
}

fn header_section(bytes: &[u8]) -> &str {
    let n = header_section_len(bytes).unwrap();
    std::str::from_utf8(&bytes[..n]).unwrap()
}

#[test]
fn a_recording_cut_short_says_so_and_why() {
    let wav = wav_bytes(800);
    let plain = render(
        &sample(MessageKind::VoiceMail),
        Some(&wav),
        "umgw.test",
        &mut rng(),
    );
    assert_eq!(parse(&plain).unwrap().cut_short, None);
    let msg = NewMessage {
        cut_short: Some("write failed: No space left on device (os error 28)".into()),
        preview: None,
        forwarded: None,
        ..sample(MessageKind::VoiceMail)
    };
    let bytes = render(&msg, Some(&wav), "umgw.test", &mut rng());
    assert_well_formed(&bytes);
    let back = parse(&bytes).unwrap();
    assert_eq!(back.cut_short, msg.cut_short);
    assert!(String::from_utf8_lossy(&bytes).contains("The recording was cut short"));
    assert_eq!(back.audio_wav.as_deref(), Some(&wav[..]));
}

/// Every line ends in CRLF, no bare CR or LF, header lines are ASCII and ≤ 998 bytes.
fn assert_well_formed(bytes: &[u8]) {
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' {
            assert!(i > 0 && bytes[i - 1] == b'\r', "bare LF at {i}");
        }
        if b == b'\r' {
            assert_eq!(bytes.get(i + 1), Some(&b'\n'), "bare CR at {i}");
        }
    }
    let head = header_section(bytes);
    for line in head.split("\r\n") {
        assert!(line.is_ascii() && line.len() <= 998, "{line:?}");
    }
}

/// The voice mail [`sample`] with a 4-byte "recording", as text.
fn small_voice_mail() -> String {
    let bytes = render(
        &sample(MessageKind::VoiceMail),
        Some(b"RIFF"),
        "h",
        &mut rng(),
    );
    String::from_utf8(bytes).unwrap()
}

#[test]
fn date_known_vectors() {
    assert_eq!(format_rfc5322_date(0), "Thu, 1 Jan 1970 00:00:00 +0000");
    assert_eq!(
        format_rfc5322_date(1_000_000_000),
        "Sun, 9 Sep 2001 01:46:40 +0000"
    );
    assert_eq!(
        format_rfc5322_date(951_782_400),
        "Tue, 29 Feb 2000 00:00:00 +0000"
    );
    assert_eq!(
        format_rfc5322_date(4_107_542_400),
        "Mon, 1 Mar 2100 00:00:00 +0000"
    );
    assert_eq!(
        format_rfc5322_date(1_700_000_000),
        "Tue, 14 Nov 2023 22:13:20 +0000"
    );
    assert_eq!(
        format_rfc5322_date(253_402_300_799),
        "Fri, 31 Dec 9999 23:59:59 +0000"
    );
}

#[test]
fn durations_and_numbers_for_humans() {
    assert_eq!(short_duration(22_600), "0:23");
    assert_eq!(short_duration(499), "0:00");
    assert_eq!(short_duration(725_000), "12:05");
    assert_eq!(short_duration(3_723_000), "1:02:03");
    assert_eq!(words_duration(1_000), "1 second");
    assert_eq!(words_duration(65_000), "1 minute 5 seconds");
    assert_eq!(words_duration(7_260_000), "2 hours 1 minute");
    assert_eq!(words_duration(0), "0 seconds");
    assert_eq!(
        display_number("sip:+14255550123@contoso.com;user=phone"),
        "+14255550123"
    );
    assert_eq!(display_number("<tel:+1-425-555-0123>"), "+1-425-555-0123");
    assert_eq!(display_number("sip:bob@contoso.com"), "bob@contoso.com");
    assert_eq!(
        email_address("sip:alice@contoso.com;opaque=app:voicemail").as_deref(),
        Some("alice@contoso.com")
    );
    assert_eq!(email_address("tel:+14255550123"), None);
    assert_eq!(email_address("sip:a b@x"), None);
}

#[test]
fn renders_expected_headers() {
    let wav = wav_bytes(100);
    let bytes = render(
        &sample(MessageKind::VoiceMail),
        Some(&wav),
        "gw1.contoso.com",
        &mut rng(),
    );
    assert_well_formed(&bytes);
    let head = header_section(&bytes);
    assert!(
        head.starts_with("Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"),
        "{head}"
    );
    assert!(head.contains("\r\nFrom: Voice Mail <umgw@gw1.contoso.com>\r\n"));
    assert!(head.contains("\r\nTo: \"Alice Smith\"\r\n <alice@contoso.com>\r\n"));
    assert!(head.contains("\r\nSubject: Voice mail from Bob Kelly (+14255550123), 0:23\r\n"));
    assert!(head.contains("\r\nMIME-Version: 1.0\r\n"));
    assert!(head.contains("\r\nX-UMGW-Kind: voice-mail\r\n"));
    assert!(head.contains("\r\nX-UMGW-Caller: sip:+14255550123@contoso.com;user=phone\r\n"));
    assert!(head.contains("\r\nX-UMGW-Caller-Name: Bob Kelly\r\n"));
    assert!(head.contains("\r\nX-UMGW-Mailbox: sip:alice@contoso.com\r\n"));
    assert!(head.contains("\r\nX-UMGW-Call-ID: a84b4c76e66710@pc33.contoso.com\r\n"));
    assert!(head.contains("\r\nX-UMGW-Duration-Ms: 22600\r\n"));
    assert!(head.contains("\r\nX-UMGW-Received: 1700000000123\r\n"));
    assert!(head.contains("\r\nMessage-ID: <1700000000123."));
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("Content-Type: text/plain; charset=utf-8\r\n"));
    assert!(text.contains("Length:   23 seconds\r\n"));
    assert!(text.contains("Content-Disposition: attachment; filename=\"voicemail.wav\"\r\n"));
    // base64 wrapped at 76 columns.
    let b64_lines: Vec<&str> = text
        .split("\r\n")
        .skip_while(|l| !l.starts_with("Content-Transfer-Encoding: base64"))
        .skip(2)
        .take_while(|l| !l.starts_with("--"))
        .collect();
    assert!(b64_lines.len() > 1);
    assert!(b64_lines[..b64_lines.len() - 1]
        .iter()
        .all(|l| l.len() == 76));
    // Boundaries and Message-IDs come from the generator: one seed renders the same bytes,
    // its next draws another boundary and Message-ID.
    let mut seeded = rng();
    let same = render(
        &sample(MessageKind::VoiceMail),
        Some(&wav),
        "gw1.contoso.com",
        &mut seeded,
    );
    assert_eq!(bytes, same);
    let again = render(
        &sample(MessageKind::VoiceMail),
        Some(&wav),
        "gw1.contoso.com",
        &mut seeded,
    );
    assert_ne!(bytes, again);
}

#[test]
fn round_trip_preserves_fields_and_wav_bytes() {
    let wav = wav_bytes(8000 * 3 + 1);
    let msg = sample(MessageKind::VoiceMail);
    let p = parse(&render(&msg, Some(&wav), "h", &mut rng())).unwrap();
    assert_eq!(p.kind, MessageKind::VoiceMail);
    assert_eq!(p.caller, msg.caller);
    assert_eq!(p.mailbox_address, msg.mailbox_address);
    assert_eq!(p.call_id, msg.call_id);
    assert_eq!(p.duration, Duration::from_millis(22_600));
    assert_eq!(p.received, msg.received);
    assert_eq!(p.subject, "Voice mail from Bob Kelly (+14255550123), 0:23");
    assert_eq!(p.audio_wav.as_deref(), Some(&wav[..]));
    let r = hound::WavReader::new(std::io::Cursor::new(p.audio_wav.unwrap())).unwrap();
    assert_eq!(r.len(), 8000 * 3 + 1);
}

#[test]
fn missed_call_without_caller_or_audio() {
    let mut msg = sample(MessageKind::MissedCall);
    msg.caller = None;
    msg.caller_name = Some(" \t".into());
    msg.audio = None;
    let bytes = render(&msg, None, "h", &mut rng());
    assert_well_formed(&bytes);
    let p = parse(&bytes).unwrap();
    assert_eq!(p.kind, MessageKind::MissedCall);
    assert_eq!(p.subject, "Missed call from Unknown caller");
    assert_eq!(p.caller, None);
    assert_eq!(p.audio_wav, None);
    assert!(!p
        .headers
        .iter()
        .any(|(n, _)| n.starts_with("X-UMGW-Caller")));
}

#[test]
fn header_injection_is_impossible() {
    let mut msg = sample(MessageKind::VoiceMail);
    let evil = "+1\r\nX-UMGW-Kind: missed-call\r\nBcc: victim@example.com\n\r\nbody";
    msg.caller = Some(evil.into());
    msg.caller_name = Some(evil.into());
    msg.call_id = evil.into();
    msg.mailbox_name = Some(evil.into());
    let bytes = render(&msg, None, "h\r\nBcc: x", &mut rng());
    assert_well_formed(&bytes);
    let head = header_section(&bytes);
    assert!(!head.contains("\r\nBcc"), "{head}");
    let kind_lines = head
        .split("\r\n")
        .filter(|l| l.starts_with("X-UMGW-Kind"))
        .count();
    assert_eq!(kind_lines, 1, "{head}");
    let p = parse(&bytes).unwrap();
    assert_eq!(p.kind, MessageKind::VoiceMail);
    assert_eq!(p.caller.as_deref(), Some(evil));
    assert_eq!(p.call_id, evil);
    assert!(p
        .subject
        .starts_with("Voice mail from +1 X-UMGW-Kind: missed-call Bcc:"));
    assert!(!p.subject.contains(['\r', '\n']));
}

#[test]
fn unicode_display_names_are_rfc2047() {
    let mut msg = sample(MessageKind::VoiceMail);
    msg.caller_name = Some("Zoë Ångström".into());
    msg.mailbox_name = Some("José Müller".into());
    let bytes = render(&msg, None, "h", &mut rng());
    assert_well_formed(&bytes);
    let head = header_section(&bytes);
    assert!(head.contains("Subject: =?utf-8?b?"), "{head}");
    assert!(head.contains("To: =?utf-8?b?"), "{head}");
    let p = parse(&bytes).unwrap();
    assert_eq!(
        p.subject,
        "Voice mail from Zoë Ångström (+14255550123), 0:23"
    );
    let to = &p.headers.iter().find(|(n, _)| n == "To").unwrap().1;
    assert_eq!(to, "José Müller <alice@contoso.com>");
}

#[test]
fn parse_tolerates_lf_and_folding_and_q_words() {
    let wav = wav_bytes(10);
    let crlf = render(&sample(MessageKind::VoiceMail), Some(&wav), "h", &mut rng());
    let lf = String::from_utf8(crlf.clone())
        .unwrap()
        .replace("\r\n", "\n");
    let a = parse(&crlf).unwrap();
    let b = parse(lf.as_bytes()).unwrap();
    assert_eq!(a, b);

    let b64 = STANDARD.encode(&wav);
    let handmade = format!(
        "x-umgw-kind:\n  Voice-Mail\nX-UMGW-Mailbox: sip:alice@contoso.com\n\
         X-UMGW-Call-ID: abc\nX-UMGW-Duration-Ms: 5\nX-UMGW-Received: 7\n\
         X-UMGW-Caller: =?ISO-8859-1?Q?J=F6rg_?=\n\t=?utf-8?B?w6k?=\nSubject: a\n b\n\
         Content-Type: multipart/mixed;\n boundary=XYZ\n\npreamble\n--XYZ\n\nhi\n--XYZ\n\
         Content-Type: audio/x-wav; name=v.wav\nContent-Transfer-Encoding: BASE64\n\n{}\n{}\n--XYZ--\n",
        &b64[..10],
        &b64[10..]
    );
    let p = parse(handmade.as_bytes()).unwrap();
    assert_eq!(p.kind, MessageKind::VoiceMail);
    assert_eq!(p.caller.as_deref(), Some("Jörg é"));
    assert_eq!(p.subject, "a b");
    assert_eq!(p.received, UNIX_EPOCH + Duration::from_millis(7));
    assert_eq!(p.audio_wav.as_deref(), Some(&wav[..]));
}

#[test]
fn rfc2047_decoding_vectors() {
    // RFC 2047 §8 examples.
    assert_eq!(decode_words("=?ISO-8859-1?Q?a?="), "a");
    assert_eq!(decode_words("=?ISO-8859-1?Q?a?= b"), "a b");
    assert_eq!(decode_words("=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?="), "ab");
    assert_eq!(
        decode_words("=?ISO-8859-1?Q?a?=  \t =?ISO-8859-1?Q?b?="),
        "ab"
    );
    assert_eq!(decode_words("=?ISO-8859-1?Q?a_b?="), "a b");
    // Adjacent words in different charsets: each decoded in its own (was: left as written,
    // before mail-parser read them).
    assert_eq!(
        decode_words("=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?="),
        "a b"
    );
    assert_eq!(decode_words("=?ISO-8859-2?Q?=A3=F3d=BC?="), "Łódź");
    assert_eq!(decode_words("=?windows-1252?Q?=80?="), "€");
    // A B word without its padding loses nothing.
    assert_eq!(decode_words("=?utf-8?b?w6k?= x"), "é x");
    // A UTF-8 character split across two words.
    assert_eq!(decode_words("=?utf-8?b?w6k=?= =?utf-8?b?4oKs?="), "é€");
    assert_eq!(decode_words("=?utf-8?q?=E2=82?= =?utf-8?q?=AC?="), "€");
    assert_eq!(decode_words("not =? a word ?= x"), "not =? a word ?= x");
    assert_eq!(decode_words("=?utf-8?b?!!!?="), "=?utf-8?b?!!!?=");
}

/// The `X-UMGW-*` headers of a sample voice mail, as a mail client keeps them when it
/// re-encodes the rest; `caller` is written as given (an encoded-word, say). `eol` is the line
/// end.
fn umgw_headers(caller: &str, eol: &str) -> String {
    [
        "X-UMGW-Kind: voice-mail".to_owned(),
        format!("X-UMGW-Caller: {caller}"),
        "X-UMGW-Mailbox: sip:alice@contoso.com".to_owned(),
        "X-UMGW-Call-ID: abc@pc33".to_owned(),
        "X-UMGW-Duration-Ms: 1500".to_owned(),
        "X-UMGW-Received: 1700000000123".to_owned(),
        "Subject: =?ISO-8859-1?Q?Voice_mail_from_J=F6rg?=".to_owned(),
        String::new(),
    ]
    .join(eol)
}

/// `bytes` as base64 in lines of `width` characters.
fn base64_in_lines(bytes: &[u8], width: usize, eol: &str) -> String {
    let b64 = STANDARD.encode(bytes);
    b64.as_bytes()
        .chunks(width)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(eol)
}

#[test]
fn reads_back_what_a_mail_client_re_encoded() {
    let wav = wav_bytes(700);
    // multipart/mixed > (multipart/alternative > text/plain QP + text/html) + audio, the
    // caller in an ISO-8859-1 encoded-word, base64 in 64-character lines.
    let nested_alternative = format!(
        "{}MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n\
         --outer\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n\
         --inner\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\
         Content-Transfer-Encoding: quoted-printable\r\n\r\nVoice mail from J=F6rg =\r\n(1.5 s)\r\n\
         --inner\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Voice mail</p>\r\n\
         --inner--\r\n\
         --outer\r\nContent-Type: audio/x-wav\r\n\
         Content-Disposition: attachment;\r\n filename*=iso-8859-1''J%F6rg.wav\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--outer--\r\n",
        umgw_headers(
            "=?ISO-8859-1?Q?J=F6rg_M=FCller?= <sip:+14255550123@contoso.com>",
            "\r\n"
        ),
        base64_in_lines(&wav, 64, "\r\n"),
    );
    // multipart/related with the audio one level deeper, LF line ends, base64 in 57- and
    // 100-character lines (not multiples of 4), a windows-1252 caller split over two words.
    let related_lf = format!(
        "{}Content-Type: multipart/related; boundary=rel\n\n\
         --rel\nContent-Type: text/plain\n\nhi\n\
         --rel\nContent-Type: multipart/mixed; boundary=mix\n\n\
         --mix\nContent-Type: AUDIO/WAV; name=\"J\u{f6}rg.wav\"\nContent-Transfer-Encoding: Base64\n\n{}\n\
         --mix--\n--rel--\n",
        umgw_headers("=?windows-1252?B?SvY=?=\n =?windows-1252?Q?rg_M=FCller?=", "\n"),
        base64_in_lines(&wav, 57, "\n"),
    );
    let related_lf_100 = related_lf.replace(
        &base64_in_lines(&wav, 57, "\n"),
        &base64_in_lines(&wav, 100, "\n"),
    );
    for (name, text, file_name, caller) in [
        (
            "multipart/alternative inside multipart/mixed",
            &nested_alternative,
            "J\u{f6}rg.wav",
            "J\u{f6}rg M\u{fc}ller <sip:+14255550123@contoso.com>",
        ),
        (
            "multipart/related, LF, 57",
            &related_lf,
            "J\u{f6}rg.wav",
            "J\u{f6}rg M\u{fc}ller",
        ),
        (
            "multipart/related, LF, 100",
            &related_lf_100,
            "J\u{f6}rg.wav",
            "J\u{f6}rg M\u{fc}ller",
        ),
    ] {
        let p = parse(text.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(p.kind, MessageKind::VoiceMail, "{name}");
        assert_eq!(p.caller.as_deref(), Some(caller), "{name}");
        assert_eq!(p.subject, "Voice mail from J\u{f6}rg", "{name}");
        assert_eq!(p.duration, Duration::from_millis(1500), "{name}");
        assert_eq!(p.audio_file_name.as_deref(), Some(file_name), "{name}");
        assert_eq!(p.audio_wav.as_deref(), Some(&wav[..]), "{name}");
    }
}

#[test]
fn reads_back_a_quoted_printable_audio_part_and_a_single_part_message() {
    let wav = wav_bytes(40);
    let qp: String = wav
        .iter()
        .map(|b| format!("={b:02X}"))
        .collect::<Vec<_>>()
        .chunks(25)
        .map(|c| c.concat())
        .collect::<Vec<_>>()
        .join("=\r\n");
    let single = format!(
        "{}Content-Type: audio/wav\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n{qp}",
        umgw_headers("+14255550123", "\r\n")
    );
    let p = parse(single.as_bytes()).unwrap();
    assert_eq!(p.caller.as_deref(), Some("+14255550123"));
    assert_eq!(p.audio_wav.as_deref(), Some(&wav[..]));
    assert_eq!(p.audio_file_name, None);
}

#[test]
fn a_truncated_nested_multipart_is_an_error() {
    let text = format!(
        "{}Content-Type: multipart/mixed; boundary=outer\n\n--outer\n\
         Content-Type: multipart/alternative; boundary=inner\n\n--inner\n\n\
         hi\n--outer--\n",
        umgw_headers("x", "\n")
    );
    assert_eq!(
        parse(text.as_bytes()),
        Err(MessageError::Mime(
            "multipart body without closing delimiter (truncated?)"
        ))
    );
    let no_boundary = format!(
        "{}Content-Type: multipart/mixed\n\nhi\n",
        umgw_headers("x", "\n")
    );
    assert_eq!(
        parse(no_boundary.as_bytes()),
        Err(MessageError::Mime("multipart without a boundary parameter"))
    );
}

#[test]
fn parse_errors() {
    let good = small_voice_mail();
    let cases: Vec<(String, MessageError)> = vec![
        (
            good.replace("X-UMGW-Kind: voice-mail\r\n", ""),
            MessageError::MissingHeader(H_KIND),
        ),
        (
            good.replace("X-UMGW-Kind: voice-mail", "X-UMGW-Kind: fax"),
            bad(H_KIND, "fax", "expected voice-mail or missed-call"),
        ),
        (
            good.replace("X-UMGW-Duration-Ms: 22600", "X-UMGW-Duration-Ms: -1"),
            bad(
                H_DURATION_MS,
                "-1",
                "expected milliseconds as an unsigned integer",
            ),
        ),
        (
            good.replace(
                "X-UMGW-Kind: voice-mail\r\n",
                "X-UMGW-Kind: voice-mail\r\nX-UMGW-Kind: missed-call\r\n",
            ),
            MessageError::DuplicateHeader(H_KIND),
        ),
        (
            good.rsplit_once("--umgw-").unwrap().0.to_owned(),
            MessageError::Mime("multipart body without closing delimiter (truncated?)"),
        ),
        (
            format!(" folded\r\n{good}"),
            MessageError::BadHeaderLine {
                line: 1,
                why: "continuation line before any header",
            },
        ),
        (
            format!("garbage\r\n{good}"),
            MessageError::BadHeaderLine {
                line: 1,
                why: "no ':' in header line",
            },
        ),
    ];
    for (text, want) in cases {
        assert_eq!(parse(text.as_bytes()), Err(want));
    }
    let bad_b64 = good.replace("UklGRg==", "UklGRg=!");
    assert!(matches!(
        parse(bad_b64.as_bytes()),
        Err(MessageError::AudioBase64(_))
    ));
}

/// The Exchange UM headers [`render`] writes.
const UM_HEADERS: [&str; 6] = [
    H_CONTENT_CLASS,
    H_CALLING_NUMBER,
    H_SENDER_NAME,
    H_VOICE_DURATION,
    H_ATTACHMENT_ORDER,
    H_UM_CALL_ID,
];

/// The values of the header lines named `name` in a header section, as written (unfolded).
fn raw_values<'a>(head: &'a str, name: &str) -> Vec<&'a str> {
    head.split("\r\n")
        .filter_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
        .collect()
}

#[test]
fn voice_mail_carries_the_headers_exchange_um_writes() {
    let wav = wav_bytes(100);
    let msg = sample(MessageKind::VoiceMail);
    let bytes = render(&msg, Some(&wav), "h", &mut rng());
    assert_well_formed(&bytes);
    let head = header_section(&bytes);
    for (name, value) in [
        (H_CONTENT_CLASS, "voice-ca"),
        (H_CALLING_NUMBER, "+14255550123"),
        (H_SENDER_NAME, "Bob Kelly"),
        (H_VOICE_DURATION, "23"),
        (H_ATTACHMENT_ORDER, "voicemail.wav"),
        (H_UM_CALL_ID, "a84b4c76e66710@pc33.contoso.com"),
    ] {
        assert_eq!(raw_values(head, name), [value], "{name} in\n{head}");
    }
    // umgw's own headers are all still there.
    assert_eq!(raw_values(head, H_KIND), ["voice-mail"]);
    assert_eq!(raw_values(head, H_DURATION_MS), ["22600"]);

    let p = parse(&bytes).unwrap();
    assert_eq!(
        p.um,
        UmHeaders {
            content_class: Some("voice-ca".into()),
            calling_number: Some("+14255550123".into()),
            sender_name: Some("Bob Kelly".into()),
            duration_secs: Some(23),
            attachment_order: vec!["voicemail.wav".into()],
            call_id: Some(msg.call_id.clone()),
        }
    );
    assert_eq!(
        p.um.message_class(),
        Some("IPM.Note.Microsoft.Voicemail.UM.CA")
    );
    // The order names the attachment that is there.
    assert_eq!(p.audio_file_name.as_deref(), Some("voicemail.wav"));
    assert_eq!(p.audio_wav.as_deref(), Some(&wav[..]));
}

/// tests/data/lync/voicemail-message.eml (LF line ends there, CRLF in the store): the voice
/// mail [`sample`] with 10 ms of audio, byte for byte. Its README says where each header
/// comes from.
const VOICE_MAIL_SAMPLE: &str = include_str!("../../../tests/data/lync/voicemail-message.eml");

#[test]
fn voice_mail_is_rendered_as_the_sample_in_tests_data() {
    let bytes = render(
        &sample(MessageKind::VoiceMail),
        Some(&wav_bytes(80)),
        "umgw01.contoso.com",
        &mut rng(),
    );
    let text = String::from_utf8(bytes).unwrap();
    if std::env::var_os("UMGW_WRITE_SAMPLE").is_some() {
        std::fs::write(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/data/lync/voicemail-message.eml"
            ),
            text.replace("\r\n", "\n"),
        )
        .unwrap();
    }
    assert_eq!(text, VOICE_MAIL_SAMPLE.replace('\n', "\r\n"));
}

#[test]
fn missed_call_carries_exchange_um_headers_but_none_about_audio() {
    let mut msg = sample(MessageKind::MissedCall);
    msg.audio = None;
    msg.duration = Duration::ZERO;
    let bytes = render(&msg, None, "h", &mut rng());
    assert_well_formed(&bytes);
    let head = header_section(&bytes);
    assert_eq!(raw_values(head, H_CONTENT_CLASS), ["missedcall"]);
    assert!(raw_values(head, H_VOICE_DURATION).is_empty(), "{head}");
    assert!(raw_values(head, H_ATTACHMENT_ORDER).is_empty(), "{head}");
    let p = parse(&bytes).unwrap();
    assert_eq!(
        p.um,
        UmHeaders {
            content_class: Some("missedcall".into()),
            calling_number: Some("+14255550123".into()),
            sender_name: Some("Bob Kelly".into()),
            duration_secs: None,
            attachment_order: Vec::new(),
            call_id: Some(msg.call_id.clone()),
        }
    );
    assert_eq!(
        p.um.message_class(),
        Some("IPM.Note.Microsoft.Missed.Voice")
    );
    assert_eq!(p.audio_file_name, None);

    // An anonymous caller: no number, no name, nothing blank written in their place.
    msg.caller = None;
    msg.caller_name = Some(" \t".into());
    let bytes = render(&msg, None, "h", &mut rng());
    let head = header_section(&bytes);
    assert!(raw_values(head, H_CALLING_NUMBER).is_empty(), "{head}");
    assert!(raw_values(head, H_SENDER_NAME).is_empty(), "{head}");
    let p = parse(&bytes).unwrap();
    assert_eq!((p.um.calling_number, p.um.sender_name), (None, None));
}

#[test]
fn voice_message_duration_is_whole_seconds_half_up_and_positive() {
    for (ms, secs) in [
        (0, 1),
        (499, 1),
        (1_499, 1),
        (1_500, 2),
        (22_600, 23),
        (59_499, 59),
        (3_723_000, 3723),
    ] {
        assert_eq!(voice_message_secs(ms), secs, "{ms} ms");
    }
    let mut msg = sample(MessageKind::VoiceMail);
    msg.duration = Duration::from_millis(300);
    let p = parse(&render(&msg, Some(&wav_bytes(2400)), "h", &mut rng())).unwrap();
    assert_eq!(p.um.duration_secs, Some(1));
}

#[test]
fn calling_number_is_the_number_to_call_back() {
    for (caller, number) in [
        ("sip:+14255550123@contoso.com;user=phone", "+14255550123"),
        ("<tel:+1-425-555-0123>", "+1-425-555-0123"),
        ("+14255550199", "+14255550199"),
        ("1001", "1001"),
        // No number: the URI as it came, on one line.
        ("sip:bob@contoso.com", "sip:bob@contoso.com"),
        (
            "sip:bob@contoso.com\r\nBcc: x",
            "sip:bob@contoso.com Bcc: x",
        ),
    ] {
        assert_eq!(calling_number(caller), number, "{caller:?}");
    }
}

#[test]
fn hostile_caller_stays_inside_the_exchange_headers() {
    let mut msg = sample(MessageKind::VoiceMail);
    let evil = "Zoë\r\nX-CallID: forged\r\nContent-Class: fax\r\nBcc: victim@example.com\n\r\nbody";
    msg.caller_name = Some(evil.into());
    msg.caller = Some(format!("sip:{evil}@contoso.com"));
    msg.call_id = "abc\r\nX-AttachmentOrder: evil.exe".into();
    let bytes = render(&msg, Some(&wav_bytes(10)), "h", &mut rng());
    assert_well_formed(&bytes);
    let head = header_section(&bytes);
    assert!(!head.contains("\r\nBcc"), "{head}");
    for name in UM_HEADERS {
        let lines = head
            .split("\r\n")
            .filter(|l| l.split(':').next() == Some(name))
            .count();
        assert_eq!(lines, 1, "{name} in\n{head}");
    }
    // Encoded, not raw: the name is not ASCII and holds line breaks.
    assert!(
        raw_values(head, H_SENDER_NAME)[0].starts_with("=?utf-8?b?"),
        "{head}"
    );
    let p = parse(&bytes).unwrap();
    assert_eq!(p.um.content_class.as_deref(), Some("voice-ca"));
    assert_eq!(
        p.um.sender_name.as_deref(),
        Some("Zoë X-CallID: forged Content-Class: fax Bcc: victim@example.com body")
    );
    assert_eq!(p.um.call_id.as_deref(), Some(msg.call_id.as_str()));
    assert_eq!(p.um.attachment_order, ["voicemail.wav"]);
    // umgw's own header keeps the name exactly as it came.
    let exact = &p
        .headers
        .iter()
        .find(|(n, _)| n == H_CALLER_NAME)
        .unwrap()
        .1;
    assert_eq!(exact, evil);
}

#[test]
fn exchange_um_headers_are_read_leniently() {
    let good = small_voice_mail();
    // [MS-OXOUM] 2.2.5.9's forms of the order; case-insensitive names and Content-Class.
    let other = good
        .replace(
            "X-AttachmentOrder: voicemail.wav",
            "x-attachmentorder: ;vm3.wav; vm2.wav ;vm1.wav;",
        )
        .replace("Content-Class: voice-ca", "content-class: Voice")
        .replace("X-VoiceMessageDuration: 23", "X-VoiceMessageDuration: -5");
    let p = parse(other.as_bytes()).unwrap();
    assert_eq!(p.um.attachment_order, ["vm3.wav", "vm2.wav", "vm1.wav"]);
    assert_eq!(
        p.um.message_class(),
        Some("IPM.Note.Microsoft.Voicemail.UM")
    );
    assert_eq!(p.um.duration_secs, None);
    // Not ours to police: a repeated one counts once, an unknown class maps to nothing.
    let repeated = good.replace(
        "Content-Class: voice-ca\r\n",
        "Content-Class: urn:content-classes:message\r\nContent-Class: voice-ca\r\n",
    );
    let p = parse(repeated.as_bytes()).unwrap();
    assert_eq!(p.um.message_class(), None);
    for (class, message_class) in [
        ("fax", "IPM.Note.Microsoft.Fax"),
        ("fax-ca", "IPM.Note.Microsoft.Fax.CA"),
        ("missedcall", "IPM.Note.Microsoft.Missed.Voice"),
        ("voice-uc", "IPM.Note.Microsoft.Conversation.Voice"),
        ("voice-ca", "IPM.Note.Microsoft.Voicemail.UM.CA"),
        ("voice", "IPM.Note.Microsoft.Voicemail.UM"),
    ] {
        let um = UmHeaders {
            content_class: Some(class.into()),
            ..UmHeaders::default()
        };
        assert_eq!(um.message_class(), Some(message_class));
    }
}

#[test]
fn audio_file_name_from_disposition_or_type() {
    let b64 = STANDARD.encode(b"RIFF");
    let message = |part_headers: &str| {
        format!(
            "X-UMGW-Kind: voice-mail\nX-UMGW-Mailbox: m\nX-UMGW-Call-ID: c\n\
             X-UMGW-Duration-Ms: 1\nX-UMGW-Received: 1\n\
             Content-Type: multipart/mixed; boundary=B\n\n--B\n{part_headers}\
             Content-Transfer-Encoding: base64\n\n{b64}\n--B--\n"
        )
    };
    for (part_headers, name) in [
        (
            "Content-Type: audio/wav; name=\"a.wav\"\nContent-Disposition: attachment; filename=\"b c.wav\"\n",
            Some("b c.wav"),
        ),
        ("Content-Type: audio/wav; name=a.wav\n", Some("a.wav")),
        (
            "Content-Type: audio/wav\nContent-Disposition: attachment; filename==?utf-8?b?w6kud2F2?=\n",
            Some("é.wav"),
        ),
        ("Content-Type: audio/wav\n", None),
    ] {
        let p = parse(message(part_headers).as_bytes()).unwrap();
        assert_eq!(p.audio_file_name.as_deref(), name, "{part_headers}");
        assert_eq!(p.audio_wav.as_deref(), Some(&b"RIFF"[..]));
    }
}

proptest! {
    #[test]
    fn caller_strings_round_trip(
        caller in proptest::option::of("(\\PC|[\r\n\t ]|=\\?){0,120}"),
        name in proptest::option::of("(\\PC|[\r\n\t ]){0,60}"),
        call_id in "(\\PC|[\r\n]){0,80}",
        ms in 0u64..4_000_000_000_000,
        wav in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut msg = sample(MessageKind::VoiceMail);
        msg.caller = caller.clone();
        msg.caller_name = name;
        msg.call_id = call_id.clone();
        msg.received = UNIX_EPOCH + Duration::from_micros(ms * 1000 + 999);
        let bytes = render(&msg, Some(&wav), "h", &mut rng());
        assert_well_formed(&bytes);
        let head = header_section(&bytes);
        let names: Vec<&str> = head
            .split("\r\n")
            .filter(|l| !l.is_empty() && !l.starts_with(' '))
            .map(|l| l.split(':').next().unwrap())
            .collect();
        prop_assert!(names.iter().all(|n| n.starts_with("X-UMGW-")
            || ["Date", "From", "To", "Subject", "Message-ID", "MIME-Version", "Content-Type"].contains(n)
            || UM_HEADERS.contains(n)),
            "{:?}", names);
        for um in UM_HEADERS {
            prop_assert!(names.iter().filter(|n| **n == um).count() <= 1, "{:?}", names);
        }
        let p = parse(&bytes).unwrap();
        // What mail clients show of the caller is one clean line; the Call-ID is exact.
        for shown in [&p.um.calling_number, &p.um.sender_name].into_iter().flatten() {
            prop_assert!(!shown.is_empty() && !shown.chars().any(char::is_control), "{:?}", shown);
            prop_assert!(shown.chars().count() <= 100, "{:?}", shown);
        }
        prop_assert_eq!(
            p.um.call_id.as_deref(),
            Some(call_id.trim()).filter(|c| !c.is_empty())
        );
        prop_assert_eq!(p.um.attachment_order, vec![AUDIO_FILE_NAME.to_owned()]);
        prop_assert_eq!(p.audio_file_name.as_deref(), Some(AUDIO_FILE_NAME));
        prop_assert_eq!(p.caller, caller.filter(|c| !c.trim().is_empty()));
        prop_assert_eq!(p.call_id, call_id);
        prop_assert_eq!(p.received, UNIX_EPOCH + Duration::from_millis(ms));
        prop_assert_eq!(p.kind, MessageKind::VoiceMail);
        prop_assert_eq!(p.audio_wav, Some(wav));
    }

    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = parse(&bytes);
    }

    #[test]
    fn parse_never_panics_on_mangled_messages(cut in 0usize..2000, flip in 0usize..2000, byte in any::<u8>()) {
        let mut b = render(&sample(MessageKind::VoiceMail), Some(b"RIFF....WAVE"), "h", &mut rng());
        let flip = flip % b.len();
        b[flip] = byte;
        b.truncate(cut.min(b.len()));
        let _ = parse(&b);
    }
}

#[test]
fn a_preview_opens_the_text_wrapped_and_marked_and_the_audio_still_parses() {
    let wav = wav_bytes(800);
    let long = "Grüße Alice, ".repeat(20) + "[Freitag]";
    let preview = crate::domain::Preview {
        text: long.trim().to_owned(),
        low_confidence: true,
    };
    let msg = NewMessage {
        preview: Some(preview.clone()),
        ..sample(MessageKind::VoiceMail)
    };
    let bytes = render(&msg, Some(&wav), "umgw.test", &mut rng());
    assert_well_formed(&bytes);
    let back = parse(&bytes).unwrap();
    assert_eq!(back.audio_wav.as_deref(), Some(&wav[..]));
    assert_eq!(back.preview.as_deref(), Some(preview.text.as_str()));
    let text = String::from_utf8(bytes).unwrap();
    assert!(
        text.contains("Content-Transfer-Encoding: 8bit\r\n\r\nVoice Mail Preview:\r\nGrüße Alice,")
    );
    let body = &text[text.find("Voice Mail Preview:").unwrap()..];
    let block = &body[..body.find("\r\n\r\n").unwrap()];
    let lines: Vec<&str> = block.split("\r\n").collect();
    assert!(lines.len() > 4, "{lines:?}");
    assert!(lines.iter().all(|l| l.chars().count() <= 76), "{lines:?}");
    assert_eq!(
        lines.last(),
        Some(&"(Low confidence: the preview may differ from what was said.)")
    );
    let words: Vec<&str> = lines[1..lines.len() - 1]
        .iter()
        .flat_map(|l| l.split(' '))
        .collect();
    assert_eq!(words.join(" "), preview.text);
    assert!(body.contains("\r\n\r\nYou received a voice mail from"));
    // A transcript that starts like a note is still the transcript.
    let music = crate::domain::Preview {
        text: "(music) Hello".into(),
        low_confidence: false,
    };
    let msg = NewMessage {
        preview: Some(music),
        ..msg
    };
    let bytes = render(&msg, Some(&wav), "umgw.test", &mut rng());
    assert_eq!(
        parse(&bytes).unwrap().preview.as_deref(),
        Some("(music) Hello")
    );
    // Without a preview the text is as before.
    let msg = NewMessage {
        preview: None,
        forwarded: None,
        ..msg
    };
    let plain = render(&msg, Some(&wav), "umgw.test", &mut rng());
    assert_eq!(parse(&plain).unwrap().preview, None);
    assert!(!String::from_utf8(plain).unwrap().contains("Preview"));
}

#[test]
fn urgent_and_private_marks_are_written_as_mail_clients_read_them_and_parse_back() {
    let wav = wav_bytes(800);
    let plain = render(
        &sample(MessageKind::VoiceMail),
        Some(&wav),
        "umgw.test",
        &mut rng(),
    );
    let head = header_section(&plain).to_owned();
    for name in [H_IMPORTANCE, H_PRIORITY, H_X_PRIORITY, H_SENSITIVITY] {
        assert!(!head.contains(&format!("{name}:")), "{head}");
    }
    assert_eq!(parse(&plain).unwrap().marks, Marks::default());
    for (urgent, private) in [(true, false), (false, true), (true, true)] {
        let msg = NewMessage {
            marks: Marks { urgent, private },
            ..sample(MessageKind::VoiceMail)
        };
        let bytes = render(&msg, Some(&wav), "umgw.test", &mut rng());
        assert_well_formed(&bytes);
        let head = header_section(&bytes);
        assert_eq!(head.contains("\r\nImportance: High\r\n"), urgent, "{head}");
        assert_eq!(head.contains("\r\nPriority: Urgent\r\n"), urgent, "{head}");
        assert_eq!(head.contains("\r\nX-Priority: 1\r\n"), urgent, "{head}");
        assert_eq!(
            head.contains("\r\nSensitivity: Private\r\n"),
            private,
            "{head}"
        );
        let parsed = parse(&bytes).unwrap();
        assert_eq!(parsed.marks, Marks { urgent, private });
        assert_eq!(parsed.audio_wav.as_deref(), Some(&wav[..]));
    }
    // Read back leniently, as a mail client may have rewritten them.
    let relaxed = String::from_utf8(plain).unwrap().replacen(
        "MIME-Version: 1.0\r\n",
        "MIME-Version: 1.0\r\nimportance:  high \r\nSENSITIVITY: private\r\n",
        1,
    );
    assert_eq!(
        parse(relaxed.as_bytes()).unwrap().marks,
        Marks {
            urgent: true,
            private: true
        }
    );
}
