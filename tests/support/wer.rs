//! Word error rate and key-word hits of a transcript against its reference text, for the Voice
//! Mail Preview benchmark (benches/preview.rs) and tests (tests/preview.rs), which include this
//! file with `#[path]`.
//!
//! Both sides are normalised the same way before words are compared, so that spelling choices
//! of the engine are not counted as errors: lower case, punctuation dropped, numbers spelled
//! as spoken ("2:30" two thirty, "$340" three hundred forty dollar, "555-0143" digit by digit,
//! "3rd" third), "a.m."/"p.m."/"o'clock" dropped (Whisper writes "5", "5:00" or "5 o'clock"
//! for the same words), common contractions expanded, "oh" between digits read as zero, a few
//! spelling variants merged (okay/ok, e-mail/email, canceled/cancelled) and hesitations (um, uh)
//! dropped. What is left is what a reader would count as a different word.
#![allow(dead_code)]

/// One word-level difference between reference and hypothesis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Edit {
    Substitution { reference: String, heard: String },
    Deletion(String),
    Insertion(String),
}

/// A transcript scored against its reference.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Score {
    /// Words of the normalised reference.
    pub reference_words: usize,
    /// The differences, in reference order.
    pub edits: Vec<Edit>,
}

impl Score {
    /// Word error rate: edits per reference word.
    pub fn wer(&self) -> f64 {
        if self.reference_words == 0 {
            return if self.edits.is_empty() { 0.0 } else { 1.0 };
        }
        self.edits.len() as f64 / self.reference_words as f64
    }
}

/// `hypothesis` against `reference`: a minimal word alignment (Levenshtein over normalised
/// words; substitutions, deletions and insertions each cost 1).
pub fn score(reference: &str, hypothesis: &str) -> Score {
    let r = normalise(reference);
    let h = normalise(hypothesis);
    Score {
        reference_words: r.len(),
        edits: align(&r, &h),
    }
}

/// The edits of a minimal alignment of `h` to `r`.
pub fn align(r: &[String], h: &[String]) -> Vec<Edit> {
    let (n, m) = (r.len(), h.len());
    // d[i][j]: distance between r[..i] and h[..j].
    let mut d = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let sub = d[i - 1][j - 1] + usize::from(r[i - 1] != h[j - 1]);
            d[i][j] = sub.min(d[i - 1][j] + 1).min(d[i][j - 1] + 1);
        }
    }
    let mut edits = Vec::new();
    let (mut i, mut j) = (n, m);
    while i > 0 || j > 0 {
        if i > 0 && j > 0 && d[i][j] == d[i - 1][j - 1] + usize::from(r[i - 1] != h[j - 1]) {
            if r[i - 1] != h[j - 1] {
                edits.push(Edit::Substitution {
                    reference: r[i - 1].clone(),
                    heard: h[j - 1].clone(),
                });
            }
            i -= 1;
            j -= 1;
        } else if i > 0 && d[i][j] == d[i - 1][j] + 1 {
            edits.push(Edit::Deletion(r[i - 1].clone()));
            i -= 1;
        } else {
            edits.push(Edit::Insertion(h[j - 1].clone()));
            j -= 1;
        }
    }
    edits.reverse();
    edits
}

/// Which of `key_words` (each a word or phrase) occur in `hypothesis`, normalised the same
/// way, a phrase as consecutive words.
pub fn key_word_hits(key_words: &[String], hypothesis: &str) -> Vec<bool> {
    let h = normalise(hypothesis);
    key_words
        .iter()
        .map(|k| {
            let k = normalise(k);
            !k.is_empty() && h.windows(k.len()).any(|w| w == k.as_slice())
        })
        .collect()
}

/// The `key_words` not in `hypothesis` (see [`key_word_hits`]).
pub fn missed_key_words<'a>(key_words: &'a [String], hypothesis: &str) -> Vec<&'a str> {
    key_words
        .iter()
        .zip(key_word_hits(key_words, hypothesis))
        .filter(|(_, hit)| !hit)
        .map(|(k, _)| k.as_str())
        .collect()
}

/// A text as the words that are compared.
pub fn normalise(text: &str) -> Vec<String> {
    let text = text
        .to_lowercase()
        .replace(['\u{2019}', '\u{2018}', '`'], "'")
        .replace("a.m.", " am ")
        .replace("p.m.", " pm ")
        .replace("o'clock", " oclock ");
    let mut words = Vec::new();
    for token in lex(&text) {
        match token {
            Token::Word(w) => expand_word(&w, &mut words),
            Token::Number(n) => words.extend(number_words(&n).split(' ').map(str::to_owned)),
        }
    }
    tidy(words)
}

/// A number as written, with what around it changes how it is said.
#[derive(Debug, Default)]
struct Number {
    /// Digits with any `,` `:` `.` inside.
    text: String,
    /// `$` or `£` before it.
    currency: Option<char>,
    percent: bool,
    /// st, nd, rd, th after it.
    ordinal: bool,
    /// Joined to another digit group by `-` (a phone number: 555-0143).
    grouped: bool,
    /// The word before it ("at" 230 is a time).
    after: String,
}

#[derive(Debug)]
enum Token {
    Word(String),
    Number(Number),
}

fn lex(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_digit() {
            let mut n = Number {
                after: match tokens.last() {
                    Some(Token::Word(w)) => w.clone(),
                    _ => String::new(),
                },
                currency: i
                    .checked_sub(1)
                    .map(|p| chars[p])
                    .filter(|p| matches!(p, '$' | '£')),
                grouped: i >= 2 && chars[i - 1] == '-' && chars[i - 2].is_ascii_digit(),
                ..Number::default()
            };
            while i < chars.len() {
                let c = chars[i];
                let joins_digits = matches!(c, ',' | ':' | '.')
                    && chars.get(i + 1).is_some_and(char::is_ascii_digit);
                if c.is_ascii_digit() || joins_digits {
                    n.text.push(c);
                    i += 1;
                } else {
                    break;
                }
            }
            let rest: String = chars[i..].iter().take(3).collect();
            if ["st", "nd", "rd", "th"].iter().any(|s| {
                rest.starts_with(s) && !rest[2..].chars().next().is_some_and(char::is_alphabetic)
            }) {
                n.ordinal = true;
                i += 2;
            }
            n.percent = chars.get(i) == Some(&'%');
            n.grouped |=
                chars.get(i) == Some(&'-') && chars.get(i + 1).is_some_and(char::is_ascii_digit);
            tokens.push(Token::Number(n));
        } else if c.is_alphabetic() {
            let mut w = String::new();
            while i < chars.len()
                && (chars[i].is_alphabetic()
                    || (chars[i] == '\'' && chars.get(i + 1).is_some_and(|c| c.is_alphabetic())))
            {
                w.push(chars[i]);
                i += 1;
            }
            tokens.push(Token::Word(w));
        } else {
            i += 1;
        }
    }
    tokens
}

const ONES: [&str; 20] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const TENS: [&str; 10] = [
    "", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
];

/// `n` in words, without "and": 340 three hundred forty.
fn cardinal(n: u64) -> String {
    match n {
        0..=19 => ONES[n as usize].to_owned(),
        20..=99 => {
            let tens = TENS[(n / 10) as usize];
            match n % 10 {
                0 => tens.to_owned(),
                u => format!("{tens} {}", ONES[u as usize]),
            }
        }
        100..=999 => joined(cardinal(n / 100) + " hundred", n % 100),
        1_000..=999_999 => joined(cardinal(n / 1_000) + " thousand", n % 1_000),
        _ => joined(cardinal(n / 1_000_000) + " million", n % 1_000_000),
    }
}

fn joined(head: String, rest: u64) -> String {
    if rest == 0 {
        head
    } else {
        format!("{head} {}", cardinal(rest))
    }
}

fn ordinal(n: u64) -> String {
    let words = cardinal(n);
    let (head, last) = words.rsplit_once(' ').unwrap_or(("", &words));
    let last = match last {
        "one" => "first".to_owned(),
        "two" => "second".to_owned(),
        "three" => "third".to_owned(),
        "five" => "fifth".to_owned(),
        "eight" => "eighth".to_owned(),
        "nine" => "ninth".to_owned(),
        "twelve" => "twelfth".to_owned(),
        w if w.ends_with('y') => format!("{}ieth", &w[..w.len() - 1]),
        w => format!("{w}th"),
    };
    if head.is_empty() {
        last
    } else {
        format!("{head} {last}")
    }
}

fn digits(s: &str) -> String {
    s.chars()
        .filter_map(|c| c.to_digit(10))
        .map(|d| ONES[d as usize])
        .collect::<Vec<_>>()
        .join(" ")
}

/// The words a number is spoken as.
fn number_words(n: &Number) -> String {
    let t = n.text.as_str();
    let value = |s: &str| s.replace(',', "").parse::<u64>().unwrap_or(0);
    let words = if let Some(cur) = n.currency {
        let (whole, cents) = t.split_once('.').unwrap_or((t, ""));
        let unit = if cur == '$' { "dollar" } else { "pound" };
        let mut w = format!("{} {unit}", cardinal(value(whole)));
        if !cents.is_empty() && value(cents) > 0 {
            w += &format!(
                " {} {}",
                cardinal(value(cents)),
                if cur == '$' { "cent" } else { "pence" }
            );
        }
        w
    } else if let Some((h, m)) = t.split_once(':').or_else(|| {
        t.split_once('.')
            .filter(|(h, m)| h.len() <= 2 && m.len() == 2)
    }) {
        time(value(h), value(m))
    } else if t.contains('.') {
        // Whisper separates spoken digits with dots (555.0143, 3.3.4.1); a voice mail has
        // next to no decimals.
        digits(t)
    } else if let Some((h, m)) = clock_time(n) {
        time(h, m)
    } else if n.ordinal {
        ordinal(value(t))
    } else if t.contains(',') {
        cardinal(value(t))
    } else {
        let v = value(t);
        // "800" in 1-800-... is said eight hundred; other groups of a phone number, and
        // numbers of three or more digits (extension 412, ticket 66041), digit by digit.
        let round = (t.len() == 3 && v % 100 == 0) || (t.len() == 4 && v % 1000 == 0 && !n.grouped);
        if ((t.len() <= 2 && !t.starts_with('0')) || t == "0") && !n.grouped || round {
            cardinal(v)
        } else {
            digits(t)
        }
    };
    if n.percent {
        words + " percent"
    } else {
        words
    }
}

/// A time of day: 2:30 two thirty, 9:05 nine oh five, 5:00 five.
fn time(h: u64, m: u64) -> String {
    match m {
        0 => cardinal(h),
        1..=9 => format!("{} oh {}", cardinal(h), ONES[m as usize]),
        _ => format!("{} {}", cardinal(h), cardinal(m)),
    }
}

/// Hour and minute of a time Whisper writes without a colon ("at 230", "by 1130").
fn clock_time(n: &Number) -> Option<(u64, u64)> {
    const BEFORE_TIMES: [&str; 8] = [
        "at", "by", "until", "till", "around", "before", "after", "from",
    ];
    let t = n.text.as_str();
    if n.grouped
        || !(3..=4).contains(&t.len())
        || t.starts_with('0')
        || !BEFORE_TIMES.contains(&n.after.as_str())
    {
        return None;
    }
    let v: u64 = t.parse().ok()?;
    let (h, m) = (v / 100, v % 100);
    ((1..=12).contains(&h) && m < 60).then_some((h, m))
}

/// Expands contractions and abbreviations, merges spelling variants; apostrophes go.
fn expand_word(w: &str, out: &mut Vec<String>) {
    let expanded: &[&str] = match w {
        "i'm" => &["i", "am"],
        "let's" => &["let", "us"],
        "won't" => &["will", "not"],
        "can't" | "cannot" => &["can", "not"],
        "shan't" => &["shall", "not"],
        "ain't" => &["is", "not"],
        "dr" => &["doctor"],
        "mr" => &["mister"],
        "mrs" => &["missus"],
        "ext" => &["extension"],
        "ave" => &["avenue"],
        "ok" => &["okay"],
        "alright" => &["all", "right"],
        "voicemail" => &["voice", "mail"],
        "canceled" => &["cancelled"],
        "dollars" => &["dollar"],
        "pounds" => &["pound"],
        "cents" => &["cent"],
        _ => {
            // 's is "is" after these, a possessive elsewhere (Patel's stays one word).
            const IS_AFTER: [&str; 8] = ["it", "that", "there", "here", "what", "who", "he", "she"];
            if let Some(stem) = w.strip_suffix("'s").filter(|s| IS_AFTER.contains(s)) {
                out.extend([stem.to_owned(), "is".to_owned()]);
                return;
            }
            let suffixes = [
                ("n't", "not"),
                ("'re", "are"),
                ("'ve", "have"),
                ("'ll", "will"),
                ("'d", "would"),
            ];
            for (suffix, word) in suffixes {
                if let Some(stem) = w.strip_suffix(suffix) {
                    out.push(stem.to_owned());
                    out.push(word.to_owned());
                    return;
                }
            }
            out.push(w.replace('\'', ""));
            return;
        }
    };
    out.extend(expanded.iter().map(|s| (*s).to_owned()));
}

const HESITATIONS: [&str; 7] = ["um", "uh", "er", "erm", "ah", "hmm", "mm"];

fn is_digit_word(w: &str) -> bool {
    ONES[..10].contains(&w)
}

fn is_number_word(w: &str) -> bool {
    ONES.contains(&w) || TENS[2..].contains(&w) || w == "oh"
}

/// Word-sequence rules: am/pm/o'clock and hesitations go, "e mail" is "email", "oh" between
/// digits is zero, "hundred and forty" is "hundred forty".
fn tidy(words: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(words.len());
    let mut i = 0;
    while i < words.len() {
        let w = words[i].as_str();
        let next = words.get(i + 1).map(String::as_str);
        match w {
            "am" | "pm" if out.last().is_some_and(|p| is_number_word(p)) => {}
            "oclock" => {}
            "o" if next == Some("clock") => i += 1,
            "e" if next == Some("mail") => {
                out.push("email".into());
                i += 1;
            }
            "oh" if out.last().is_some_and(|p| is_digit_word(p))
                && next.is_some_and(is_digit_word) =>
            {
                out.push("zero".into())
            }
            "and"
                if out
                    .last()
                    .is_some_and(|p| p == "hundred" || p == "thousand")
                    && next.is_some_and(|n| ONES.contains(&n) || TENS.contains(&n)) => {}
            w if HESITATIONS.contains(&w) => {}
            _ => out.push(words[i].clone()),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> String {
        normalise(s).join(" ")
    }

    #[test]
    fn case_punctuation_and_contractions_are_not_errors() {
        assert_eq!(
            n("Hi, it's Tom. I'm running late; we'll see. Don't wait!"),
            "hi it is tom i am running late we will see do not wait"
        );
        assert_eq!(n("Doctor Patel's office"), "doctor patels office");
        assert_eq!(n("Dr. Patel\u{2019}s office"), "doctor patels office");
        assert_eq!(n("follow-up e-mail, OK?"), "follow up email okay");
        assert_eq!(n("I can't, it was canceled"), "i can not it was cancelled");
        assert_eq!(n("I am, I'm, I AM"), "i am i am i am");
    }

    #[test]
    fn numbers_are_spelled_as_spoken() {
        assert_eq!(
            n("call 555-0143 or 1-888-442-7710"),
            "call five five five zero one four three or one eight eight eight four four two seven seven one zero"
        );
        assert_eq!(
            n("1-800-555-6789"),
            "one eight hundred five five five six seven eight nine"
        );
        assert_eq!(
            n("(425) 555 1234"),
            "four two five five five five one two three four"
        );
        assert_eq!(
            n("extension 412, room 22"),
            "extension four one two room twenty two"
        );
        assert_eq!(n("ticket 66041"), "ticket six six zero four one");
        assert_eq!(
            n("$340 with labor"),
            "three hundred forty dollar with labor"
        );
        assert_eq!(
            n("$4,800 or $19.99"),
            "four thousand eight hundred dollar or nineteen dollar ninety nine cent"
        );
        assert_eq!(n("£600"), "six hundred pound");
        assert_eq!(n("30% off"), "thirty percent off");
        assert_eq!(
            n("the 3rd floor on the 28th"),
            "the third floor on the twenty eighth"
        );
        assert_eq!(n("a 26-foot truck"), "a twenty six foot truck");
        assert_eq!(
            n("call 555.0143 or 3.3.4.1"),
            "call five five five zero one four three or three three four one"
        );
        assert_eq!(
            n("1-800-55-567-89"),
            "one eight hundred five five five six seven eight nine"
        );
        assert_eq!(
            n("at 230, by 1130, extension 2250"),
            "at two thirty by eleven thirty extension two two five zero"
        );
    }

    #[test]
    fn times_match_however_they_are_written() {
        for said in [
            "five o'clock",
            "5 o'clock",
            "5:00",
            "5 p.m.",
            "5 PM",
            "five o clock",
        ] {
            assert_eq!(n(said), "five", "{said}");
        }
        assert_eq!(n("at 2:30"), n("at two thirty"));
        assert_eq!(n("9:45 a.m."), "nine forty five");
        assert_eq!(n("9:05"), n("nine oh five"));
        assert_eq!(n("9.05"), "nine zero five");
        assert_eq!(n("at 10.30"), n("at ten thirty"));
        assert_eq!(n("six ten p.m."), n("6:10 p.m."));
    }

    #[test]
    fn spoken_numbers_match_their_digits() {
        assert_eq!(n("three hundred and forty dollars"), n("$340"));
        assert_eq!(n("nine hundred and fifty dollars"), n("$950."));
        assert_eq!(n("one thousand six hundred dollars"), n("$1,600"));
        assert_eq!(n("five five five, oh one four three"), n("555-0143"));
        assert_eq!(n("twenty four hours"), n("24 hours"));
        // "oh" elsewhere is a word.
        assert_eq!(n("Oh, and one more thing"), "oh and one more thing");
        assert_eq!(n("Um, hi, uh, it's me"), "hi it is me");
    }

    #[test]
    fn wer_counts_substitutions_deletions_and_insertions() {
        let s = score(
            "Hi, this is Sarah Johnson from Acme Insurance.",
            "this is sara johnson from the acme insurance",
        );
        assert_eq!(s.reference_words, 8);
        assert_eq!(
            s.edits,
            vec![
                Edit::Deletion("hi".into()),
                Edit::Substitution {
                    reference: "sarah".into(),
                    heard: "sara".into()
                },
                Edit::Insertion("the".into()),
            ]
        );
        assert!((s.wer() - 3.0 / 8.0).abs() < 1e-9);
        assert_eq!(
            score("Call me at 5:30.", "call me at five thirty").edits,
            vec![]
        );
        assert_eq!(score("", "").wer(), 0.0);
        assert_eq!(score("", "noise").wer(), 1.0);
        assert_eq!(score("one two three", "").edits.len(), 3);
    }

    #[test]
    fn key_words_are_found_as_phrases() {
        let keys: Vec<String> = [
            "sarah",
            "call me back",
            "five five five zero one four three",
            "five o'clock",
            "insurance",
        ]
        .map(String::from)
        .to_vec();
        let hits = key_word_hits(
            &keys,
            "Hi, this is Sara. Call me back at 555-0143 before 5 p.m. today.",
        );
        assert_eq!(hits, [false, true, true, true, false]);
        // Words of a phrase apart do not count.
        assert_eq!(
            key_word_hits(&["call back".to_owned()], "call me back"),
            [false]
        );
    }
}
