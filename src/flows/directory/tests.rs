//! The directory on a fake clock, over 60 users with look-alike spellings: Smith / Smyth /
//! Smit (7648…), Johnson / Johnston (56467…), nine Smiths (two pages), and users found only
//! by their alias.

use super::*;

/// (mailbox id, DisplayName, alias)
const PEOPLE: &[(&str, &str, &str)] = &[
    ("asmith", "Alice Smith", "alice.smith"),
    ("bsmith", "Bob Smith", "bob.smith"),
    ("csmith", "Carol Smith", "carol.smith"),
    ("dsmith", "Dan Smith", "dan.smith"),
    ("esmith", "Eve Smith", "eve.smith"),
    ("fsmith", "Frank Smith", "frank.smith"),
    ("gsmith", "Grace Smith", "grace.smith"),
    ("hsmith", "Heidi Smith", "heidi.smith"),
    ("is.smith", "Ivan Smith", "ivan.smith"),
    ("jsmyth", "Jane Smyth", "jane.smyth"),
    ("hsmit", "Hans Smit", "hans.smit"),
    ("ksmit", "Karel Smit", "karel.smit"),
    ("rjohnson", "Robert Johnson", "rjohnson"),
    ("mjohnson", "Mary Johnson", "mjohnson"),
    ("ljohnston", "Lisa Johnston", "ljohnston"),
    ("ajones", "Anna Jones", "ajones"),
    ("manders", "Anders, Mats", "mats"),
    ("aanders", "Alice Anders", "alice"),
    ("mevans", "Mary Ann Evans", "george.eliot"),
    ("beethoven", "Ludwig van Beethoven", "ludwig"),
    ("oneill", "Sean O'Neill", "soneill"),
    ("muller", "Jürgen Müller", "jmueller"),
    ("garcia", "José García", "jgarcia"),
    ("cher", "Cher", "cher"),
];

/// More ordinary users, so the directory has more than fifty entries.
const FILLER: &[&str] = &[
    "Baker",
    "Clark",
    "Davis",
    "Edwards",
    "Fisher",
    "Green",
    "Harris",
    "Irving",
    "Kelly",
    "Lewis",
    "Moore",
    "Nelson",
    "Owens",
    "Parker",
    "Quinn",
    "Roberts",
    "Stone",
    "Turner",
    "Underwood",
    "Vance",
    "Walker",
    "Young",
    "Zimmer",
    "Adams",
    "Brown",
    "Carter",
    "Dixon",
    "Ellis",
    "Foster",
    "Gray",
    "Hughes",
    "Jenkins",
    "King",
    "Lopez",
    "Mason",
    "Norris",
    "Olsen",
    "Price",
];

fn listings() -> Vec<Listing> {
    let mut l: Vec<Listing> = PEOPLE
        .iter()
        .map(|(id, name, alias)| Listing::new(id, name, alias))
        .collect();
    for (i, last) in FILLER.iter().enumerate() {
        let id = format!("u{i:02}");
        l.push(Listing::new(&id, &format!("Pat {last}"), &id));
    }
    assert!(l.len() >= 60);
    l
}

fn settings() -> DirectorySettings {
    DirectorySettings {
        primary: NameOrder::LastFirst,
        secondary: Some(NameOrder::SmtpAddress),
        input_failures: 3,
        digit_timeout: Duration::from_secs(5),
    }
}

struct Harness {
    dir: Directory,
    now: Instant,
    /// Mailboxes that have a recorded name.
    recorded: Vec<&'static str>,
}

impl Harness {
    fn new(settings: DirectorySettings) -> Self {
        Self {
            dir: Directory::new(listings(), settings),
            now: Instant::now(),
            recorded: Vec::new(),
        }
    }

    /// Starts and lets the spelling prompt play out.
    fn started() -> (Self, Vec<Command>) {
        let mut h = Self::new(settings());
        let first = h.feed(Input::Start);
        h.feed(Input::PlaybackDone);
        (h, first)
    }

    /// Feeds `input`, answering recorded-name questions as the shell would.
    fn feed(&mut self, input: Input) -> Vec<Command> {
        let mut out = Vec::new();
        self.dir.handle(self.now, input, &mut out);
        let mut all = Vec::new();
        while let Some(pos) = out
            .iter()
            .position(|c| matches!(c, Command::FindRecordedNames(_)))
        {
            let Command::FindRecordedNames(ids) = out.remove(pos) else {
                unreachable!()
            };
            all.append(&mut out);
            let answer = ids
                .iter()
                .map(|id| self.recorded.contains(&id.as_str()))
                .collect();
            all.push(Command::FindRecordedNames(ids));
            self.dir
                .handle(self.now, Input::RecordedNames(answer), &mut out);
        }
        all.append(&mut out);
        all
    }

    fn keys(&mut self, keys: &str) -> Vec<Command> {
        let mut out = Vec::new();
        for c in keys.chars() {
            out.extend(self.feed(Input::Dtmf(c)));
        }
        out
    }

    /// Spells `name` on the keypad, then `#`.
    fn spell(&mut self, name: &str) -> Vec<Command> {
        let mut digits: String = name.chars().filter_map(keypad_digit).collect();
        digits.push('#');
        self.keys(&digits)
    }

    fn advance(&mut self, d: Duration) -> Vec<Command> {
        self.now += d;
        self.feed(Input::Tick)
    }
}

fn said(cmds: &[Command]) -> Vec<String> {
    cmds.iter()
        .flat_map(|c| match c {
            Command::Play(s) => s.clone(),
            _ => Vec::new(),
        })
        .map(|s| match s {
            Say::Prompt(p) => p,
            Say::RecordedName(id) => format!("<{id}>"),
        })
        .collect()
}

/// The names a page offers, in key order: the spelled letters between "For" and "press".
fn offered(cmds: &[Command]) -> Vec<String> {
    let words = said(cmds);
    let mut out = Vec::new();
    let mut name: Option<String> = None;
    for w in words {
        match w.as_str() {
            "w-for" => name = Some(String::new()),
            "w-press" => out.extend(name.take()),
            _ => {
                if let Some(n) = name.as_mut() {
                    n.push_str(w.strip_prefix("letter-").unwrap_or(&w));
                }
            }
        }
    }
    out
}

fn finished(cmds: &[Command]) -> Option<&Outcome> {
    cmds.iter().find_map(|c| match c {
        Command::Finished(o) => Some(o),
        _ => None,
    })
}

fn chosen(cmds: &[Command]) -> Option<&str> {
    match finished(cmds) {
        Some(Outcome::Chosen { mailbox, .. }) => Some(mailbox),
        _ => None,
    }
}

#[test]
fn keypad_letters() {
    let digits: String = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        .chars()
        .filter_map(keypad_digit)
        .collect();
    assert_eq!(digits, "22233344455566677778889999");
    assert_eq!(keypad_digit('q'), Some('7'));
    assert_eq!(keypad_digit('-'), None);
}

#[test]
fn display_names_split_into_first_and_last() {
    let l = |n: &str| {
        let x = Listing::new("x", n, "");
        (x.first, x.last)
    };
    assert_eq!(l("Alice Smith"), ("ALICE".into(), "SMITH".into()));
    assert_eq!(l("Anders, Mats"), ("MATS".into(), "ANDERS".into()));
    assert_eq!(l("Mary Ann Evans"), ("MARYANN".into(), "EVANS".into()));
    assert_eq!(
        l("Ludwig van Beethoven"),
        ("LUDWIGVAN".into(), "BEETHOVEN".into())
    );
    assert_eq!(l("  Cher "), (String::new(), "CHER".into()));
    assert_eq!(l("Sean O'Neill"), ("SEAN".into(), "ONEILL".into()));
    assert_eq!(l("Jürgen Müller"), ("JURGEN".into(), "MULLER".into()));
    assert_eq!(l("Gauß Straße"), ("GAUSS".into(), "STRASSE".into()));
}

#[test]
fn asks_for_the_last_name_or_the_first_name_as_the_plan_says() {
    let (_, first) = Harness::started();
    assert_eq!(said(&first), ["dir-spell-last"]);
    let mut h = Harness::new(DirectorySettings {
        primary: NameOrder::FirstLast,
        ..settings()
    });
    assert_eq!(said(&h.feed(Input::Start)), ["dir-spell-first"]);
}

#[test]
fn a_unique_spelling_chooses_at_once_and_spells_the_name_without_a_recording() {
    let (mut h, _) = Harness::started();
    let out = h.spell("Johnst");
    assert_eq!(chosen(&out), Some("ljohnston"));
    let Some(Outcome::Chosen { name, .. }) = finished(&out) else {
        panic!("{out:?}")
    };
    let spelled: String = name
        .iter()
        .map(|s| match s {
            Say::Prompt(p) => p.strip_prefix("letter-").unwrap().to_owned(),
            Say::RecordedName(_) => panic!("no recording"),
        })
        .collect();
    assert_eq!(spelled, "lisajohnston");
    assert!(h.dir.is_done());
}

#[test]
fn a_unique_match_with_a_recorded_name_says_the_recording() {
    let (mut h, _) = Harness::started();
    h.recorded = vec!["mevans"];
    let out = h.spell("Evans");
    assert_eq!(
        finished(&out),
        Some(&Outcome::Chosen {
            mailbox: "mevans".into(),
            name: vec![Say::RecordedName("mevans".into())],
        })
    );
}

#[test]
fn look_alike_spellings_are_listed_in_order_and_the_second_is_picked() {
    // 5-6-4-6-7 is JOHNS… and JOHNT…: Johnson (two of them) and Johnston.
    let (mut h, _) = Harness::started();
    let out = h.keys("56467#");
    assert_eq!(
        offered(&out),
        ["maryjohnson", "robertjohnson", "lisajohnston"]
    );
    let words = said(&out);
    assert_eq!(
        words[words.len() - 3..],
        ["w-press", "digit-3", "dir-spell-again"]
    );
    assert!(!words.contains(&"dir-more".to_string()), "one page only");
    h.feed(Input::PlaybackDone);
    assert_eq!(chosen(&h.keys("2")), Some("rjohnson"));
}

#[test]
fn smith_smyth_and_smit_share_their_first_keys() {
    // SMIT = 7648: every Smit and Smith (SMITH... starts with SMIT), not Smyth (7698);
    // sorted by last name then first name, Smits first.
    let (mut h, _) = Harness::started();
    h.recorded = vec!["hsmit"];
    let out = h.keys("7648#");
    assert_eq!(
        offered(&out),
        [
            "<hsmit>",
            "karelsmit",
            "alicesmith",
            "bobsmith",
            "carolsmith",
            "dansmith",
            "evesmith",
            "franksmith"
        ],
        "a page holds eight; Hans Smit is said as his recording"
    );
    assert!(said(&out).contains(&"dir-more".to_string()));
    // SMYTH alone: 7-6-9.
    let (mut h, _) = Harness::started();
    assert_eq!(chosen(&h.keys("769#")), Some("jsmyth"));
    // SMITH + G/H/I: Grace, Heidi and Ivan Smith, not Hans Smit (SMITHA…).
    let (mut h, _) = Harness::started();
    let out = h.keys("764844#");
    assert_eq!(offered(&out), ["gracesmith", "heidismith", "ivansmith"]);
}

#[test]
fn nine_smiths_take_two_pages_and_nine_turns_the_page() {
    let (mut h, _) = Harness::started();
    h.recorded = vec!["is.smith", "hsmit"];
    let out = h.keys("76484#");
    // SMITH… (nine Smiths) and SMIT HANS: ten matches, eight on the first page.
    assert_eq!(
        offered(&out),
        [
            "<hsmit>",
            "alicesmith",
            "bobsmith",
            "carolsmith",
            "dansmith",
            "evesmith",
            "franksmith",
            "gracesmith"
        ]
    );
    let asked: Vec<&Command> = out
        .iter()
        .filter(|c| matches!(c, Command::FindRecordedNames(_)))
        .collect();
    assert_eq!(asked.len(), 1, "recorded names are asked for one page");
    h.feed(Input::PlaybackDone);
    let out = h.keys("9");
    let Some(Command::FindRecordedNames(ids)) = out.first() else {
        panic!("{out:?}")
    };
    assert_eq!(ids, &["hsmith", "is.smith"]);
    let words = said(&out);
    assert_eq!(
        words,
        [
            "w-for",
            "letter-h",
            "letter-e",
            "letter-i",
            "letter-d",
            "letter-i",
            "letter-s",
            "letter-m",
            "letter-i",
            "letter-t",
            "letter-h",
            "w-press",
            "digit-1",
            "w-for",
            "<is.smith>",
            "w-press",
            "digit-2",
            "dir-spell-again"
        ]
    );
    // Past the last page, 9 is a wrong key; 3 is not offered either.
    h.feed(Input::PlaybackDone);
    assert!(said(&h.keys("9")).starts_with(&["sa-invalid".to_string()]));
    h.feed(Input::PlaybackDone);
    let out = h.keys("2");
    assert_eq!(
        finished(&out),
        Some(&Outcome::Chosen {
            mailbox: "is.smith".into(),
            name: vec![Say::RecordedName("is.smith".into())]
        })
    );
}

#[test]
fn keys_during_the_list_stop_it_and_count() {
    let (mut h, _) = Harness::started();
    let out = h.keys("56467#");
    assert!(matches!(out.last(), Some(Command::Play(_))));
    // Still reading the list: the key stops it and picks.
    let out = h.keys("3");
    assert_eq!(out.first(), Some(&Command::StopPlayback));
    assert_eq!(chosen(&out), Some("ljohnston"));
}

#[test]
fn no_match_asks_again_and_too_many_give_up() {
    let (mut h, _) = Harness::started();
    let out = h.keys("999999#");
    assert_eq!(said(&out), ["dir-no-match", "dir-spell-last"]);
    assert!(finished(&out).is_none());
    h.feed(Input::PlaybackDone);
    // The spelling starts afresh: "7698" is Smyth again.
    assert_eq!(chosen(&h.keys("7698#")), Some("jsmyth"));

    let (mut h, _) = Harness::started();
    h.keys("999999#");
    h.feed(Input::PlaybackDone);
    h.keys("1#");
    h.feed(Input::PlaybackDone);
    let out = h.keys("0#");
    assert_eq!(finished(&out), Some(&Outcome::TooManyFailures));
    assert!(h.dir.is_done());
}

#[test]
fn a_pause_after_some_keys_ends_the_spelling() {
    let (mut h, _) = Harness::started();
    h.keys("5646");
    // The deadline follows the last key.
    assert!(h.advance(Duration::from_secs(4)).is_empty());
    assert_eq!(h.keys("7"), []);
    assert!(h.advance(Duration::from_millis(4900)).is_empty());
    let out = h.advance(Duration::from_millis(200));
    assert_eq!(offered(&out).len(), 3, "JOHNS/JOHNT: {out:?}");
}

#[test]
fn silence_counts_as_a_failure() {
    let (mut h, _) = Harness::started();
    let out = h.advance(Duration::from_secs(5));
    assert_eq!(said(&out), ["sa-invalid", "dir-spell-last"]);
    h.feed(Input::PlaybackDone);
    h.advance(Duration::from_secs(5));
    h.feed(Input::PlaybackDone);
    let out = h.advance(Duration::from_secs(5));
    assert_eq!(finished(&out), Some(&Outcome::TooManyFailures));
    // While the list plays nothing times out; after it, silence repeats it.
    let (mut h, _) = Harness::started();
    h.keys("56467#");
    assert!(h.advance(Duration::from_secs(60)).is_empty());
    h.feed(Input::PlaybackDone);
    let out = h.advance(Duration::from_secs(5));
    assert_eq!(said(&out)[0], "sa-invalid");
    assert_eq!(offered(&out).len(), 3);
}

#[test]
fn star_restarts_the_spelling_and_with_nothing_spelled_cancels() {
    let (mut h, _) = Harness::started();
    let out = h.keys("999*");
    assert_eq!(said(&out), ["dir-spell-last"]);
    h.feed(Input::PlaybackDone);
    assert_eq!(chosen(&h.keys("769#")), Some("jsmyth"));
    // From the list, * spells again.
    let (mut h, _) = Harness::started();
    h.keys("56467#");
    h.feed(Input::PlaybackDone);
    assert_eq!(said(&h.keys("*")), ["dir-spell-last"]);
    h.feed(Input::PlaybackDone);
    assert_eq!(finished(&h.keys("*")), Some(&Outcome::Cancelled));
}

#[test]
fn the_alias_is_searched_after_the_name() {
    // "george.eliot" is Mary Ann Evans's alias; nobody's last name starts with GEORG.
    let (mut h, _) = Harness::started();
    assert_eq!(chosen(&h.spell("george")), Some("mevans"));
    // "alice" is a first name (Alice Smith, Alice Anders) and Alice Anders's alias: the
    // last-name matches come first, the alias after, nobody twice.
    let (mut h, _) = Harness::started();
    let out = h.spell("anders");
    assert_eq!(offered(&out), ["aliceanders", "matsanders"]);
    let mut h = Harness::new(DirectorySettings {
        secondary: None,
        ..settings()
    });
    h.feed(Input::Start);
    assert_eq!(said(&h.spell("george")), ["dir-no-match", "dir-spell-last"]);
}

#[test]
fn first_last_order_spells_the_first_name() {
    let mut h = Harness::new(DirectorySettings {
        primary: NameOrder::FirstLast,
        secondary: None,
        ..settings()
    });
    h.feed(Input::Start);
    // LUDWIG… is Beethoven by first name; by last name nobody.
    assert_eq!(chosen(&h.spell("ludwig")), Some("beethoven"));
    // Cher has only a last name, so FirstLast spells her CHER too.
    let mut h = Harness::new(DirectorySettings {
        primary: NameOrder::FirstLast,
        secondary: None,
        ..settings()
    });
    h.feed(Input::Start);
    assert_eq!(chosen(&h.spell("cher")), Some("cher"));
}

#[test]
fn accents_and_punctuation_are_spelled_as_plain_letters() {
    let (mut h, _) = Harness::started();
    assert_eq!(chosen(&h.spell("Muller")), Some("muller"));
    let (mut h, _) = Harness::started();
    assert_eq!(chosen(&h.spell("ONeill")), Some("oneill"));
}

#[test]
fn listings_come_from_the_plan_display_names() {
    let text = "Name = \"c\"\nUriType = \"TelExtn\"\nNumberOfDigitsInExtension = 4\nCountryOrRegionCode = \"1\"\nDialByNamePrimary = \"FirstLast\"\nDialByNameSecondary = \"None\"\n[[Mailbox]]\nId = \"alice\"\nExtension = \"1001\"\nSipAddress = \"sip:alice.anders@contoso.com\"\nDisplayName = \"Alice Anders\"\n[[Mailbox]]\nId = \"nobody\"\nExtension = \"1002\"\n[[Mailbox]]\nId = \"bob\"\nExtension = \"1003\"\nDisplayName = \"Bob Baker\"\n";
    let plan = crate::dialplan::load_str(std::path::Path::new("p.toml"), text).unwrap();
    let l = &plan.directory;
    assert_eq!(l.len(), 2, "no DisplayName, not listed");
    assert_eq!(
        (l[0].mailbox.as_str(), l[0].alias.as_str()),
        ("alice", "ALICEANDERS")
    );
    assert_eq!(l[1].alias, "BOB");
    let s = DirectorySettings::for_plan(&plan, Duration::from_secs(5));
    assert_eq!((s.primary, s.secondary), (NameOrder::FirstLast, None));
}

#[test]
fn every_prompt_the_directory_says_is_shipped() {
    let lib = crate::gateway::assets::prompts().unwrap();
    let (mut h, first) = Harness::started();
    let mut heard = said(&first);
    heard.extend(said(&h.keys("7648#")));
    h.feed(Input::PlaybackDone);
    heard.extend(said(&h.keys("0")));
    heard.extend(said(&h.keys("*")));
    heard.extend(said(&h.keys("999999#")));
    let letters = ('a'..='z').map(|c| format!("letter-{c}"));
    let other = [
        "dir-spell-first",
        "dir-spell-alias",
        "dir-transferring-to",
        "aa-know-name",
    ];
    for name in heard
        .into_iter()
        .filter(|w| !w.starts_with('<'))
        .chain(letters)
        .chain(other.map(String::from))
    {
        assert!(lib.get(&name).is_some(), "{name} is not shipped");
    }
}
