//! Voice Mail Preview benchmark (issue 19): word error rate, key words and real-time factor of
//! the embedded engine on the project's test set of spoken voice mails through G.711
//! (tests/data/preview/messages.tsv, audio made by scripts/make-preview-set.sh into
//! target/preview-set). It measures; it passes or fails nothing.
//!
//!   cargo bench --bench preview                 all messages
//!   cargo bench --bench preview -- --quick      six (one clean, one noisy per synthesiser)
//!   cargo bench --bench preview -- --all-cores  without pinning the process to one CPU
//!   cargo bench --bench preview -- --hypotheses FILE.jsonl [--label NAME]
//!        scores transcripts another engine made ({"id", "text"} per line, optional
//!        "cpu_s"/"wall_s"), the same way, instead of running the embedded engine
//!
//! The model is `$UMGW_MODEL_DIR`, else the installed default. The process is pinned to one
//! CPU unless told otherwise, so the real-time factor is per core (the bar) whatever
//! threads the engine starts. The report is printed and written to target/preview-report.json.
//! Under `cargo test` (no `--bench` argument) it only checks that the set parses.

#[path = "../tests/support/preview_set.rs"]
mod preview_set;
#[path = "../tests/support/wer.rs"]
mod wer;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use preview_set::Message;
use serde_json::json;
use umgw::transcribe::embedded::EmbeddedEngine;
use umgw::transcribe::Transcriber;

/// How one message went.
struct Row {
    message: Message,
    hypothesis: String,
    score: wer::Score,
    key_hits: usize,
    audio_s: f64,
    wall_s: Option<f64>,
    cpu_s: Option<f64>,
}

struct Options {
    quick: bool,
    one_core: bool,
    hypotheses: Option<PathBuf>,
    label: Option<String>,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let messages = preview_set::messages();
    if !args.iter().any(|a| a == "--bench") {
        println!(
            "preview: {} messages in the set; run it with `cargo bench --bench preview`",
            messages.len()
        );
        return;
    }
    let opts = Options {
        quick: args.iter().any(|a| a == "--quick"),
        one_core: !args.iter().any(|a| a == "--all-cores"),
        hypotheses: value_of(&args, "--hypotheses").map(PathBuf::from),
        label: value_of(&args, "--label"),
    };
    if let Err(e) = run(messages, &opts) {
        eprintln!("preview bench: {e}");
        std::process::exit(1);
    }
}

fn value_of(args: &[String], flag: &str) -> Option<String> {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1).cloned())
}

/// For `--quick`: per synthesiser its first clean and its first noisy message.
fn quick_subset(messages: Vec<Message>) -> Vec<Message> {
    let mut picked: Vec<Message> = Vec::new();
    for m in messages {
        if !picked
            .iter()
            .any(|p| p.engine() == m.engine() && p.line == m.line)
        {
            picked.push(m);
        }
    }
    picked
}

fn run(messages: Vec<Message>, opts: &Options) -> Result<(), String> {
    let messages = if opts.quick {
        quick_subset(messages)
    } else {
        messages
    };
    let audio_dir = preview_set::audio_dir();
    let ids: Vec<&str> = messages.iter().map(|m| m.id.as_str()).collect();
    preview_set::make(&audio_dir, &ids)?;
    let mut report = json!({
        "set": {
            "messages": messages.len(),
            "quick": opts.quick,
            "audio_dir": audio_dir.display().to_string(),
        },
    });

    let (engine_name, rows) = match &opts.hypotheses {
        Some(path) => {
            let name = opts
                .label
                .clone()
                .unwrap_or_else(|| format!("hypotheses from {}", path.display()));
            (name, score_file(&messages, &audio_dir, path)?)
        }
        None => {
            if opts.one_core {
                pin_to_one_cpu()?;
            }
            let dir = preview_set::model_dir();
            println!("preview: embedded engine, model {}", dir.display());
            let engine = EmbeddedEngine::open(&dir).map_err(|e| {
                format!(
                    "{e} (model {}; run scripts/install-model.sh)",
                    dir.display()
                )
            })?;
            let cpu0 = process_cpu_s();
            let t0 = Instant::now();
            engine
                .load_now()
                .map_err(|e| format!("loading the model: {e}"))?;
            let (load_wall, load_cpu) = (t0.elapsed().as_secs_f64(), process_cpu_s() - cpu0);
            let rss_after_load = proc_status_kib("VmRSS");
            println!(
                "load_now: {load_wall:.2} s wall, {load_cpu:.2} s CPU; RSS {} MiB",
                rss_after_load / 1024
            );
            report["load"] = json!({
                "wall_s": load_wall, "cpu_s": load_cpu, "rss_mib": rss_after_load / 1024,
            });
            let rows = transcribe_all(&engine, &messages, &audio_dir)?;
            (format!("embedded ({})", dir.display()), rows)
        }
    };
    report["engine"] = json!(engine_name);
    report["one_core"] = json!(opts.one_core && opts.hypotheses.is_none());

    print_rows(&rows);
    let groups = [
        ("voice", group_by(&rows, |m| m.voice.clone())),
        ("synthesiser", group_by(&rows, |m| m.engine().to_owned())),
        ("line", group_by(&rows, |m| m.line.clone())),
        ("codec", group_by(&rows, |m| m.codec.clone())),
    ];
    for (name, g) in &groups {
        print_groups(name, g);
        report[format!("by_{name}")] = g
            .iter()
            .map(|(k, t)| (k.clone(), t.to_json()))
            .collect::<serde_json::Map<_, _>>()
            .into();
    }
    let total = Totals::of(rows.iter());
    let mut rtfs: Vec<f64> = rows
        .iter()
        .filter_map(|r| r.wall_s.map(|w| w / r.audio_s))
        .collect();
    let median_rtf = median(&mut rtfs);
    let peak_rss = proc_status_kib("VmHWM");
    println!("\n{engine_name}");
    println!(
        "total: {} messages, {:.1} s of audio; WER {:.1} % ({} edits / {} reference words); \
         key words {}/{} ({:.0} %), messages with >= 8/10: {}/{}",
        total.messages,
        total.audio_s,
        100.0 * total.wer(),
        total.edits,
        total.reference_words,
        total.key_hits,
        total.key_words,
        100.0 * total.key_hits as f64 / total.key_words.max(1) as f64,
        total.messages_with_8,
        total.messages
    );
    if let Some(m) = median_rtf {
        println!(
            "real-time factor: median {m:.3} (wall), {:.3} over all (CPU time / audio time)",
            total.cpu_s / total.audio_s,
        );
    }
    if opts.hypotheses.is_none() {
        println!(
            "peak RSS (VmHWM) {} MiB{}",
            peak_rss / 1024,
            if opts.one_core {
                "; pinned to one CPU"
            } else {
                ""
            }
        );
    }
    let mut summary = total.to_json();
    summary["median_rtf"] = json!(median_rtf);
    if opts.hypotheses.is_none() {
        summary["peak_rss_mib"] = json!(peak_rss / 1024);
    }
    report["total"] = summary;
    report["messages"] = rows.iter().map(Row::to_json).collect();
    let out = preview_set::target_dir().join("preview-report.json");
    let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
    std::fs::write(&out, text).map_err(|e| format!("{}: {e}", out.display()))?;
    println!("report: {}", out.display());
    Ok(())
}

/// Runs the engine over every message on this thread.
fn transcribe_all(
    engine: &EmbeddedEngine,
    messages: &[Message],
    audio_dir: &std::path::Path,
) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    for m in messages {
        let samples = preview_set::samples(audio_dir, &m.id)?;
        let audio_s = samples.len() as f64 / 8000.0;
        let (cpu0, t0) = (process_cpu_s(), Instant::now());
        // A deadline that does not cut the measurement short.
        let result = engine.transcribe(&samples, Instant::now() + Duration::from_secs(3600));
        let (wall, cpu) = (t0.elapsed().as_secs_f64(), process_cpu_s() - cpu0);
        let transcript = result.map_err(|e| format!("{}: {e}", m.id))?;
        rows.push(Row::new(
            m.clone(),
            transcript.text,
            audio_s,
            Some(wall),
            Some(cpu),
        ));
    }
    Ok(rows)
}

/// Rows from a JSONL file of another engine's transcripts.
fn score_file(
    messages: &[Message],
    audio_dir: &std::path::Path,
    path: &std::path::Path,
) -> Result<Vec<Row>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut by_id = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("{}: {e}: {line}", path.display()))?;
        if let (Some(id), Some(t)) = (v["id"].as_str(), v["text"].as_str()) {
            by_id.insert(
                id.to_owned(),
                (t.to_owned(), v["wall_s"].as_f64(), v["cpu_s"].as_f64()),
            );
        }
    }
    messages
        .iter()
        .map(|m| {
            let (hyp, wall, cpu) = by_id
                .get(&m.id)
                .cloned()
                .ok_or_else(|| format!("{}: no transcript of {}", path.display(), m.id))?;
            let audio_s = preview_set::samples(audio_dir, &m.id)?.len() as f64 / 8000.0;
            Ok(Row::new(m.clone(), hyp, audio_s, wall, cpu))
        })
        .collect()
}

impl Row {
    fn new(
        message: Message,
        hypothesis: String,
        audio_s: f64,
        wall_s: Option<f64>,
        cpu_s: Option<f64>,
    ) -> Row {
        let score = wer::score(&message.text, &hypothesis);
        let key_hits = wer::key_word_hits(&message.key_words, &hypothesis)
            .iter()
            .filter(|h| **h)
            .count();
        Row {
            message,
            hypothesis,
            score,
            key_hits,
            audio_s,
            wall_s,
            cpu_s,
        }
    }

    fn missed_key_words(&self) -> Vec<&str> {
        wer::missed_key_words(&self.message.key_words, &self.hypothesis)
    }

    fn to_json(&self) -> serde_json::Value {
        json!({
            "id": self.message.id,
            "voice": self.message.voice,
            "line": self.message.line,
            "codec": self.message.codec,
            "reference": self.message.text,
            "hypothesis": self.hypothesis,
            "reference_words": self.score.reference_words,
            "edits": self.score.edits.len(),
            "wer": self.score.wer(),
            "errors": self.score.edits.iter().map(edit_text).collect::<Vec<_>>(),
            "key_words": self.key_hits,
            "key_words_missed": self.missed_key_words(),
            "audio_s": self.audio_s,
            "wall_s": self.wall_s,
            "cpu_s": self.cpu_s,
            "rtf": self.wall_s.map(|w| w / self.audio_s),
        })
    }
}

fn edit_text(e: &wer::Edit) -> String {
    match e {
        wer::Edit::Substitution { reference, heard } => format!("{reference}->{heard}"),
        wer::Edit::Deletion(w) => format!("-{w}"),
        wer::Edit::Insertion(w) => format!("+{w}"),
    }
}

fn print_rows(rows: &[Row]) {
    println!(
        "\n{:<4} {:<32} {:<5} {:<4} {:>6} {:>5} {:>7} {:>7} {:>6}",
        "id", "voice", "line", "g711", "WER%", "keys", "audio s", "CPU s", "RTF"
    );
    for r in rows {
        let m = &r.message;
        println!(
            "{:<4} {:<32} {:<5} {:<4} {:>6.1} {:>2}/10 {:>7.1} {:>7} {:>6}",
            m.id,
            m.voice,
            m.line,
            m.codec,
            100.0 * r.score.wer(),
            r.key_hits,
            r.audio_s,
            r.cpu_s.map_or("-".into(), |c| format!("{c:.2}")),
            r.wall_s
                .map_or("-".into(), |w| format!("{:.3}", w / r.audio_s)),
        );
        if !r.score.edits.is_empty() {
            let errors: Vec<String> = r.score.edits.iter().map(edit_text).collect();
            println!("       errors: {}", errors.join(", "));
        }
        let missed = r.missed_key_words();
        if !missed.is_empty() {
            println!("       key words missed: {}", missed.join(" | "));
        }
    }
}

/// Sums over some rows.
#[derive(Default)]
struct Totals {
    messages: usize,
    edits: usize,
    reference_words: usize,
    key_hits: usize,
    key_words: usize,
    messages_with_8: usize,
    audio_s: f64,
    cpu_s: f64,
}

impl Totals {
    fn of<'a>(rows: impl Iterator<Item = &'a Row>) -> Totals {
        let mut t = Totals::default();
        for r in rows {
            t.messages += 1;
            t.edits += r.score.edits.len();
            t.reference_words += r.score.reference_words;
            t.key_hits += r.key_hits;
            t.key_words += r.message.key_words.len();
            t.messages_with_8 += usize::from(r.key_hits >= 8);
            t.audio_s += r.audio_s;
            t.cpu_s += r.cpu_s.unwrap_or(0.0);
        }
        t
    }

    /// Corpus WER: all edits over all reference words.
    fn wer(&self) -> f64 {
        self.edits as f64 / self.reference_words.max(1) as f64
    }

    fn to_json(&self) -> serde_json::Value {
        json!({
            "messages": self.messages,
            "wer": self.wer(),
            "edits": self.edits,
            "reference_words": self.reference_words,
            "key_words": self.key_hits,
            "key_words_of": self.key_words,
            "messages_with_8_key_words": self.messages_with_8,
            "audio_s": self.audio_s,
            "cpu_s": self.cpu_s,
            "cpu_rtf": if self.cpu_s > 0.0 { Some(self.cpu_s / self.audio_s) } else { None },
        })
    }
}

fn group_by(rows: &[Row], key: impl Fn(&Message) -> String) -> BTreeMap<String, Totals> {
    let mut keys: Vec<String> = rows.iter().map(|r| key(&r.message)).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .map(|k| {
            let t = Totals::of(rows.iter().filter(|r| key(&r.message) == k));
            (k, t)
        })
        .collect()
}

fn print_groups(name: &str, groups: &BTreeMap<String, Totals>) {
    println!(
        "\n{:<32} {:>4} {:>6} {:>9} {:>8} {:>7} {:>7}",
        format!("by {name}"),
        "msgs",
        "WER%",
        "keys",
        ">=8/10",
        "audio s",
        "CPU RTF"
    );
    for (k, t) in groups {
        println!(
            "{:<32} {:>4} {:>6.1} {:>4}/{:<4} {:>4}/{:<3} {:>7.1} {:>7}",
            k,
            t.messages,
            100.0 * t.wer(),
            t.key_hits,
            t.key_words,
            t.messages_with_8,
            t.messages,
            t.audio_s,
            if t.cpu_s > 0.0 {
                format!("{:.3}", t.cpu_s / t.audio_s)
            } else {
                "-".into()
            }
        );
    }
}

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// CPU time (user + system) of the whole process, every thread, in seconds.
fn process_cpu_s() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// A `kB` field of /proc/self/status (VmRSS, VmHWM), in KiB; 0 if unreadable.
fn proc_status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field)?.strip_prefix(':').map(str::to_owned))
        })
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Pins the process to the first CPU it may run on, so that every thread the engine starts
/// shares one core (and thread pools sized from the available parallelism make one thread).
fn pin_to_one_cpu() -> Result<(), String> {
    // SAFETY: sched_getaffinity/sched_setaffinity read and write the cpu_set_t given.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Err(format!(
                "sched_getaffinity: {}",
                std::io::Error::last_os_error()
            ));
        }
        let cpu = (0..libc::CPU_SETSIZE as usize)
            .find(|&c| libc::CPU_ISSET(c, &set))
            .ok_or("no CPU in the affinity mask")?;
        let mut one: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut one);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &one) != 0 {
            return Err(format!(
                "sched_setaffinity: {}",
                std::io::Error::last_os_error()
            ));
        }
        println!("preview: pinned to CPU {cpu} (--all-cores to not)");
    }
    Ok(())
}
